"""The build backend: setuptools, plus the web app's built assets in every sdist and wheel.

webapp/static/vendor/ (the browser runtimes, copied from node_modules) and webapp/static/sw.js (the workbox
service worker) are build outputs, git-ignored in a checkout. `pip install edgeship` must serve an app that
predicts and works offline with no npm, so:

- build_sdist and build_wheel first (re)build them with `bash scripts/vendor.sh` (after `npm ci` when
  node_modules is missing), unless they are there and were built from the same inputs: STAMP holds a hash
  of every input file (the app's own files, the service worker source, vendor.sh, workbox's config and the
  npm lock);
- the sdist carries them and STAMP (MANIFEST.in), so building a wheel from the sdist (what `python -m build`
  and `pip install edgeship-X.tar.gz` do) finds them fresh and needs neither npm nor node, nor bash.

Editable installs (`make setup`) are plain setuptools: the Makefile builds the same files in place.
Nothing here touches a git-tracked file: the outputs and STAMP are all git-ignored.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the hooks not wrapped below: metadata, editable, requires)

STATIC = Path("webapp/static")
VENDOR = STATIC / "vendor"
STAMP = VENDOR / ".inputs.sha256"
# What the app cannot start without (vendor.sh checks its whole list each time it runs).
OUTPUTS = [
    STATIC / "sw.js",
    VENDOR / "tf.min.js",
    VENDOR / "tf-backend-wasm.min.js",
    VENDOR / "litert" / "litert.js",
]
INPUT_FILES = [
    Path("package.json"),
    Path("package-lock.json"),
    Path("scripts/vendor.sh"),
    Path("workbox-config.cjs"),
]
INPUT_DIRS = [Path("service_worker"), STATIC]


def _is_output(path: Path) -> bool:
    return path == STATIC / "sw.js" or VENDOR in path.parents or path.suffix == ".map"


def _inputs() -> Iterator[Path]:
    """Every file the assets are built from, in a fixed order. Dotfiles are skipped: neither the sdist's
    package data nor the wheel holds them, so the hash reads the same in a checkout and in its sdist."""
    yield from INPUT_FILES
    for folder in INPUT_DIRS:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            hidden = "__pycache__" in parts or any(part.startswith(".") for part in parts)
            if path.is_file() and not hidden and not _is_output(path):
                yield path


def inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in _inputs():
        data = path.read_bytes() if path.is_file() else b"(missing)"
        digest.update(f"{path.as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _fail(message: str) -> NoReturn:
    # One line, no traceback: the frontend (pip, build) prints it and stops.
    sys.exit(f"edgeship build: {message}")


def ensure_web_assets() -> None:
    """Build webapp/static/vendor/ and sw.js unless they are there and built from the current inputs."""
    digest = inputs_digest()
    present = all(path.is_file() and path.stat().st_size > 0 for path in OUTPUTS)
    if present and STAMP.is_file() and STAMP.read_text().strip() == digest:
        return
    tools = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if tools:
        state = "are out of date with their sources" if present else "are missing"
        _fail(
            f"{VENDOR.as_posix()}/ and {(STATIC / 'sw.js').as_posix()} (the web app's runtimes and service "
            f"worker) {state}, and {' and '.join(tools)} {'is' if len(tools) == 1 else 'are'} not on PATH to "
            "build them: install Node.js 20 or newer (with npm) and build again"
        )
    if not Path("node_modules").is_dir():
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"])
    _run(["bash", "scripts/vendor.sh"])
    STAMP.write_text(digest + "\n")


def _run(command: list[str]) -> None:
    print(f"edgeship build: {' '.join(command)}", flush=True)
    try:
        subprocess.run(command, check=True)
    except subprocess.CalledProcessError as error:
        _fail(f"`{' '.join(command)}` failed (exit {error.returncode}); see its output above")


def build_sdist(sdist_directory, config_settings=None):  # type: ignore[no-untyped-def]
    ensure_web_assets()
    return _setuptools.build_sdist(sdist_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    ensure_web_assets()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
