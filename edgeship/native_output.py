"""Keep TensorFlow's native chatter off the user's terminal, without losing it.

TensorFlow, the TFLite converter and the interpreter print from C++ straight to file descriptors 1 and 2
(CUDA plugin registration, "fully_quantize: 0 ...", "Created TensorFlow Lite XNNPACK delegate"), even with
TF_CPP_MIN_LOG_LEVEL=3. The CLI points those descriptors at a log file and gives Python's own
`sys.stdout`/`sys.stderr` (progress, the report table, the one-line error) the original terminal.
The log is deleted after a clean run and kept, with its path printed, after a crash.
Set EDGESHIP_NATIVE_OUTPUT=1 to see everything as it happens.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def native_output_to_log() -> Iterator[Path | None]:
    if os.environ.get("EDGESHIP_NATIVE_OUTPUT") == "1" or not (
        _is_fd(sys.stdout, 1) and _is_fd(sys.stderr, 2)
    ):
        yield None  # asked to show it, or Python's streams are already redirected (tests, embedding apps)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix="edgeship-native-", suffix=".log")
    saved_out, saved_err = os.dup(1), os.dup(2)
    old_stdout, old_stderr = sys.stdout, sys.stderr
    sys.stdout = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8", errors="replace")
    sys.stderr = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    crashed = True
    try:
        yield Path(name)
        crashed = False
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for stream in (sys.stdout, sys.stderr):
            stream.close()
        sys.stdout, sys.stderr = old_stdout, old_stderr
        os.close(saved_out)
        os.close(saved_err)
        if crashed and os.path.getsize(name):
            print(f"(TensorFlow's native log: {name})", file=sys.stderr)
        else:
            os.unlink(name)


def _is_fd(stream: object, fd: int) -> bool:
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
