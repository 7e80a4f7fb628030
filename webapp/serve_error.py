"""`ServeError`: what `edgeship serve` and `edgeship build-site` refuse before serving or writing anything.

A subclass of the exporter's `EdgeshipError`, so the command line prints it like every other user error:
one line, `ServeError: message`, exit code 2. (The HTTP errors of a running server are webapp/errors.py's.)
"""

from __future__ import annotations

from exporter import EdgeshipError


class ServeError(EdgeshipError):
    """The folder holds no export, the app is not built, or the address cannot be bound."""
