"""Never half an export, never the user's folder: build in a staging folder next to DIR, then swap it in.

- DIR is replaced whole, so it may only be new, empty, or a folder edgeship wrote (`check_replaceable`,
  run before any work): never the user's folders, the current, home or root folder, nor one holding an input.
- A lock file beside DIR lets one export at a time write it; a second one fails clearly. It is removed
  when the export ends, so nothing is left beside DIR.
- The staging folder is `.DIR.staging-PID-RANDOM` on the same filesystem, so the final step is a rename.
- On Linux the swap is one `renameat2(RENAME_EXCHANGE)`: a reader sees the old DIR or the new one,
  never neither. Elsewhere it falls back to two renames.
- The lock is `flock` on POSIX and `msvcrt.locking` on Windows (which has no fcntl); Windows cannot remove
  a file another process holds open, so there the lock file may stay beside DIR (it holds nothing).
- Staging folders left behind by a killed export (their PID is gone) are removed by the next export.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from exporter.errors import OutputDirError, parameter

if sys.platform == "win32":  # no fcntl there
    import msvcrt
else:
    import fcntl

_RENAME_EXCHANGE = 2
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # disk full, quota, file size limit
_AT_FDCWD = -100
_OPEN_PRIVATE = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0)  # children do not inherit it
_STILL_ACTIVE = 259  # Windows' GetExitCodeProcess value for a running process
SITE_MARKER = "edgeship-site.json"  # written into every site build-site makes: what says OUT is ours
MARKER_MAX_BYTES = 64 << 20  # a manifest is kilobytes; a bigger "manifest.json" is not one edgeship wrote


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the kernel or libc cannot."""
    if not sys.platform.startswith("linux"):
        return False  # renameat2 is Linux's
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    """Windows' `os.kill(pid, 0)` would send Ctrl-C (signal 0 is CTRL_C_EVENT there), so ask the kernel."""
    if sys.platform != "win32":
        raise OSError(errno.ENOSYS, "Windows only")
    else:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists; anything else: it does not
        try:
            code = ctypes.c_ulong()
            alive = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(alive) and code.value == _STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)


def remove_stale(out: Path) -> list[Path]:
    """Remove staging and retired folders of exports that died; returns what was removed."""
    removed = []
    for leftover in out.parent.glob(f".{out.name}.staging-*"):
        pid_text = leftover.name.rsplit(".staging-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


@dataclass(frozen=True)
class OutputRule:
    """What an output folder may replace, and how messages name it."""

    label: str  # errors.parameter placeholder: the CLI shows --out for export, OUT for build-site
    kind: str  # "export" or "site": what "an earlier edgeship ..." means
    command: str  # "export" or "build-site": the job that another process may be running
    marker: str  # the file that says edgeship wrote the folder
    is_ours: Callable[[Path], bool]
    inputs: tuple[tuple[str, Path], ...] = ()  # (what, path): never replaced, nor a folder holding one
    outside: tuple[tuple[str, Path], ...] = ()  # (what, folder): the output may not lie inside it


def has_marker(folder: Path, marker: str, format_name: str) -> bool:
    """Whether `folder/marker` is a small JSON object whose "format" is `format_name`."""
    path = folder / marker
    try:
        if not path.is_file() or path.stat().st_size > MARKER_MAX_BYTES:
            return False
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("format") == format_name


def is_edgeship_export(folder: Path) -> bool:
    return has_marker(folder, "manifest.json", "edgeship-export")


def is_edgeship_site(folder: Path) -> bool:
    return has_marker(folder, SITE_MARKER, "edgeship-site")


EXPORT_RULE = OutputRule(parameter("out"), "export", "export", "manifest.json", is_edgeship_export)
SITE_RULE = OutputRule(parameter("site_out"), "site", "build-site", SITE_MARKER, is_edgeship_site)


def check_replaceable(out: Path, rule: OutputRule = EXPORT_RULE) -> None:
    """Refuse, before any work and without creating anything, an output folder that is not ours to replace.

    `out` is replaced whole, so it may only be a new path, an empty folder, or a folder edgeship wrote. Some
    folders are refused even when they hold edgeship's marker: the current, home and root folders, and any
    folder that is or holds an input (the model, its data, the exports to publish).
    """
    where = f"{rule.label} {out}"
    tail = f"give a new or empty folder, or an earlier edgeship {rule.kind}"
    if out.is_symlink():
        raise OutputDirError(f"{where} is a symbolic link; give the folder it points to, or a new folder")
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{where} is a file, not a folder; choose a folder path")
    blocking = next((p for p in out.absolute().parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputDirError(
            f"{where}: {blocking} is a file, so no folder can be made under it; choose another path"
        )
    real = _real(out)
    # (what, path, whether a message shows the path): the user knows where their own folders are.
    protected = [
        *(("the current folder", p, False) for p in _safely(Path.cwd)),
        *((what, path, True) for what, path in rule.inputs),
        *(("your home folder", p, False) for p in _safely(Path.home)),
        ("the root folder", Path("/"), False),
    ]
    for what, path, _ in protected:
        if real == _real(path):
            raise OutputDirError(f"{where} is {what}, which edgeship will not replace; {tail}")
    for what, path, show in protected:
        if real in _real(path).parents:
            if show:
                raise OutputDirError(
                    f"{where} holds {what} ({_real(path)}), which replacing it would delete; {tail}"
                )
            raise OutputDirError(f"{where} holds {what}, which edgeship will not replace; {tail}")
    for what, folder in rule.outside:
        if _real(folder) in real.parents:
            raise OutputDirError(f"{where} is inside {what} ({_real(folder)}); write it outside that folder")
    try:
        foreign = out.is_dir() and any(out.iterdir()) and not rule.is_ours(out)
    except OSError as error:
        raise OutputDirError(f"{where} cannot be read ({error.strerror}); choose another path") from None
    if foreign:
        raise OutputDirError(
            f"{where} holds files edgeship did not write (no edgeship {rule.marker}); "
            f"it would be replaced whole, so {tail}"
        )
    parent = out.absolute().parent
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(f"{where}: {parent} is not writable; choose a folder you can write to")


def lock_file(out: Path) -> Path:
    """The lock file beside `out` that one writer holds; removed when it ends. A name that has one is
    taken: the web app never picks it for a new export."""
    out = out.absolute()
    return out.parent / f".{out.name}.lock"


def _safely(where: Callable[[], Path]) -> list[Path]:
    """[Path.cwd()] or [Path.home()], or [] where there is none (a removed cwd, no HOME nor passwd entry)."""
    try:
        return [where()]
    except (OSError, RuntimeError, KeyError):
        return []


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _make_parents(out: Path, rule: OutputRule) -> list[Path]:
    """Create the folders above `out`; returns those this call created, deepest last."""
    missing = [p for p in reversed(out.parents) if not p.exists()]
    try:
        for folder in missing:
            folder.mkdir(exist_ok=True)
    except OSError as error:
        _remove_empty(missing)
        raise OutputDirError(
            f"{rule.label} {out}: cannot create {out.parent} ({error.strerror}); choose another path"
        ) from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if still empty: whatever someone else put there stays


def _lock(lock_path: Path, out: Path, rule: OutputRule) -> int:
    """An exclusive lock on `lock_path`, created if need be; returns its descriptor.

    The file is removed when the export ends, so a process that opened it just before may hold a lock on a
    file no longer in the folder: it checks that the path still names the inode it locked, else retries.
    """
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | _OPEN_PRIVATE, 0o644)
        try:
            _try_lock(fd)
        except BlockingIOError:
            os.close(fd)
            raise OutputDirError(
                f"another {rule.command} into {out} is running; wait for it to finish, "
                f"or choose another {rule.label}"
            ) from None
        try:
            named = os.stat(lock_path)
        except FileNotFoundError:
            named = None
        held = os.fstat(fd)
        if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # the file was removed (and perhaps made again) after we opened it: lock the new one


def _try_lock(fd: int) -> None:
    """An exclusive lock on the open file, or BlockingIOError at once if another process holds one."""
    if sys.platform == "win32":
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the file (it may be empty)
        except PermissionError:  # Windows' answer when another process holds that byte
            raise BlockingIOError(errno.EAGAIN, "locked") from None
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(lock_path: Path, fd: int) -> None:
    """Remove the lock file while still holding it, then release it."""
    try:
        named, held = os.stat(lock_path), os.fstat(fd)
        if (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            if sys.platform == "win32":
                os.close(fd)  # Windows removes no open file; another export may open it first: it stays
                fd = -1
            os.unlink(lock_path)
    except (FileNotFoundError, PermissionError):
        pass
    finally:
        if fd >= 0:
            os.close(fd)


@contextlib.contextmanager
def staged_output(out: Path, rule: OutputRule = EXPORT_RULE) -> Iterator[Path]:
    """Yield an empty staging folder; on a clean exit it replaces `out`, on an error it is removed.

    The caller runs `check_replaceable` before any work; it is run again here, as the folder may have
    changed since, and once more just before publishing. Parents and the lock file are made only now, and
    nothing is left beside `out` afterwards.
    """
    check_replaceable(out, rule)
    out = out.absolute()
    created = _make_parents(out, rule)
    if not os.access(out.parent, os.W_OK | os.X_OK):
        _remove_empty(created)
        raise OutputDirError(
            f"{rule.label} {out}: {out.parent} is not writable; choose a folder you can write to"
        )
    lock_path = lock_file(out)
    published = False
    try:
        fd = _lock(lock_path, out, rule)
    except OSError as error:
        _remove_empty(created)
        raise OutputDirError(f"{rule.label} {out}: cannot write next to it ({error.strerror})") from None
    except OutputDirError:
        _remove_empty(created)
        raise
    try:
        remove_stale(out)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=out.parent))
        except OSError as error:
            raise OutputDirError(f"{rule.label} {out}: cannot write next to it ({error.strerror})") from None
        previous: Path | None = None
        try:
            yield staging
            check_replaceable(out, rule)
            previous = _publish(staging, out, rule)
            published = True
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise OutputDirError(
                    f"{rule.label} {out}: no space left to write the {rule.kind} ({error.strerror}); "
                    f"free space and {'export' if rule.command == 'export' else 'run ' + rule.command} again"
                ) from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if previous is not None:
                shutil.rmtree(previous, ignore_errors=True)
    finally:
        _unlock(lock_path, fd)
        if not published:
            _remove_empty(created)


def _publish(staging: Path, out: Path, rule: OutputRule) -> Path | None:
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
            f"{rule.label} {out}: could not move the {rule.kind} into place ({error.strerror})"
        ) from None
