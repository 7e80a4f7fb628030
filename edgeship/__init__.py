"""edgeship: the application. The command line, the demo and the process-wide settings live here.

The layers go one way: `edgeship` (this composition root) uses `webapp` (the offline web app and its
server) and `exporter` (the library that writes and validates the ladder); `webapp` uses `exporter` only
through `from exporter import ...`; `exporter` imports neither. `make lint` checks it (import-linter).
Importing this package must not import TensorFlow (GPU options must come first; see `exporter.gpu`).
"""

from exporter import __version__

__all__ = ["__version__"]
