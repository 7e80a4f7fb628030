"""`edgeship serve`: check the folder, bind the address, then run the app under waitress.

Waitress, not Flask's development server: it is a production WSGI server with a thread pool, and it
sends no debugger to anyone who can reach the port. Everything that can go wrong before the first request
is a ServeError, printed by the CLI as one line.
"""

from __future__ import annotations

from pathlib import Path

from waitress import create_server

from exporter.errors import ServeError
from webapp import create_app, exports

THREADS = 8


def check_directory(directory: Path) -> int:
    """The number of exports in `directory`, or ServeError saying what to give instead."""
    if not directory.exists():
        raise ServeError(f"{directory} does not exist; give an export folder or a folder of export folders.")
    if not directory.is_dir():
        raise ServeError(f"{directory} is not a folder; give an export folder or a folder of export folders.")
    count = len(exports.load_all(directory))
    if count == 0:
        raise ServeError(
            f"{directory} holds no export (no valid {exports.MANIFEST} in it or in its sub-folders); "
            f"run `edgeship demo --out {directory / 'demo'}` or `edgeship export MODEL --out DIR` first."
        )
    return count


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    count = check_directory(directory)
    app = create_app({"EXPORTS_DIR": directory})
    try:
        # create_server binds at once, so a port in use fails here, before anything is printed.
        server = create_server(app, host=host, port=port, threads=THREADS)
    except (OSError, OverflowError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ServeError(
            f"cannot listen on {host}:{port} ({reason}); choose another --port or --host."
        ) from None
    # effective_port: with --port 0 the OS picks a free one, and this line is how a caller learns it.
    # A host name with several addresses (localhost: ::1 and 127.0.0.1) gives a multi-socket server
    # without a single effective_port; the port asked for is then the one to show.
    bound = getattr(server, "effective_port", port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    print(f"Serving {count} export(s) from {directory} on {url} (Ctrl+C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl+C is how the user stops it: not an error
    finally:
        server.close()
