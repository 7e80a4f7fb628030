"""Never half an export: build in a staging folder next to DIR, then swap it into place atomically.

- A lock file beside DIR lets one export at a time write it; a second one fails at once, clearly.
- The staging folder is `.DIR.staging-PID-RANDOM` on the same filesystem, so the final step is a rename.
- On Linux the swap is one `renameat2(RENAME_EXCHANGE)`: a reader sees the old DIR or the new one,
  never neither. Elsewhere it falls back to two renames.
- Staging folders left behind by a killed export (their PID is gone) are removed by the next export.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from exporter.errors import OutputDirError

_RENAME_EXCHANGE = 2
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # disk full, quota, file size limit
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the kernel or libc cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Remove staging and retired folders of exports that died; returns what was removed."""
    removed = []
    for leftover in out.parent.glob(f".{out.name}.staging-*"):
        pid_text = leftover.name.rsplit(".staging-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--out {out} is a file, not a folder; choose a folder path")
    parent = out.parent
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputDirError(
            f"--out {out}: {blocking} is a file, so no folder can be made under it; choose another path"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirError(
            f"--out {out}: cannot create {parent} ({error.strerror}); choose another path"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(f"--out {out}: {parent} is not writable; choose a folder you can write to")


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on a clean exit it replaces `out`, on an error it is removed."""
    out = out.absolute()
    _check_target(out)
    lock_path = out.parent / f".{out.name}.lock"
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirError(
                f"another export into {out} is running; wait for it to finish, or choose another --out"
            ) from None
        remove_stale(out)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
        except OSError as error:
            raise OutputDirError(f"--out {out}: cannot write next to it ({error.strerror})") from None
        previous: Path | None = None
        try:
            yield staging
            previous = _publish(staging, out)
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise OutputDirError(
                    f"--out {out}: no space left to write the export ({error.strerror}); "
                    "free space and export again"
                ) from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if previous is not None:
                shutil.rmtree(previous, ignore_errors=True)


def _publish(staging: Path, out: Path) -> Path | None:
    """Move `staging` to `out`; returns the folder now holding the previous export, if any."""
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; an export is meant to be served and read
        if not out.exists():
            os.rename(staging, out)
            return None
        if _exchange(staging, out):
            return staging
        retired = staging.with_name(staging.name + "-old")
        os.rename(out, retired)
        os.rename(staging, out)
        return retired
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise
        raise OutputDirError(
            f"--out {out}: could not move the export into place ({error.strerror})"
        ) from None
