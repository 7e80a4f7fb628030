"""The machine and the versions a result was measured with."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON_PACKAGES = ("tensorflow", "tf-keras", "keras", "ai-edge-litert", "numpy")
# The official tfjs converter's own venv (bench/export_time.py): tensorflowjs pins its TensorFlow.
OFFICIAL_PYTHON = ROOT / "bench" / ".venv-official" / "bin" / "python"
OFFICIAL_PACKAGES = ("tensorflowjs", "tensorflow", "tf-keras", "numpy")
NPM_PACKAGES = (
    "@tensorflow/tfjs",
    "@tensorflow/tfjs-backend-wasm",
    "@tensorflow/tfjs-tflite",
    "@tensorflow/tfjs-backend-webgpu",
    "@litertjs/core",
    "@litertjs/wasm-utils",
    "playwright-core",
)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match.group(1).strip() if match else "unknown"


def _memory_bytes() -> int | None:
    try:
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _command_output(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[0].strip() if lines else None


def _npm_version(name: str) -> str | None:
    try:
        return json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, KeyError, ValueError):
        return None


def _python_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _official_versions() -> dict[str, str | None]:
    """Versions in bench/.venv-official, asked of its own Python (None where it or a package is missing)."""
    script = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n        out[name] = None\n"
        "print(json.dumps(out))"
    )
    found = _command_output([str(OFFICIAL_PYTHON), "-c", script, *OFFICIAL_PACKAGES])
    try:
        return json.loads(found) if found else dict.fromkeys(OFFICIAL_PACKAGES)
    except ValueError:
        return dict.fromkeys(OFFICIAL_PACKAGES)


def describe() -> dict[str, Any]:
    commit = _command_output(["git", "rev-parse", "--short", "HEAD"])
    dirty = _command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": _command_output(["node", "--version"]),
        "chromium": _command_output(["/usr/bin/chromium", "--version"]),
        "wrk": _command_output(["wrk", "--version"]),
        "python_packages": {name: _python_version(name) for name in PYTHON_PACKAGES},
        "official_packages": _official_versions(),
        "npm_packages": {name: _npm_version(name) for name in NPM_PACKAGES},
        "edgeship_commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None,
    }
