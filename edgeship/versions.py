"""`edgeship --version`: edgeship's version and those of the stack it exports with and serves.

Read from the installed packages' metadata and from the vendored tfjs bundle, never by importing
TensorFlow: the answer is instant and works where TensorFlow would fail to start.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path

from edgeship import __version__

# (shown as, distribution name)
PACKAGES = (
    ("TensorFlow", "tensorflow"),
    ("Keras", "keras"),
    ("tf-keras", "tf-keras"),
    ("LiteRT (ai-edge-litert)", "ai-edge-litert"),
)
# The bundle the app serves (webapp/static/vendor, built by scripts/vendor.sh and shipped in the wheel)
# names its version in the object it exports as `tf.version`: {..., tfjs: "4.22.0"}.
_TFJS_VERSION = re.compile(rb'\btfjs:"(\d[^"]{0,40})"')


def _package(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def tfjs_version(vendor: Path | None = None) -> str:
    """The version of the vendored tfjs the web app serves; "not built" before scripts/vendor.sh ran."""
    if vendor is None:  # found without importing webapp (and Flask with it)
        spec = importlib.util.find_spec("webapp")
        folders = list(spec.submodule_search_locations or []) if spec else []
        if not folders:
            return "not installed"
        vendor = Path(folders[0]) / "static" / "vendor"
    try:
        found = _TFJS_VERSION.search((vendor / "tf.min.js").read_bytes())
    except OSError:
        return "not built (run make setup)"
    return found.group(1).decode() if found else "unknown (webapp/static/vendor/tf.min.js names none)"


def report() -> str:
    lines = [f"edgeship {__version__}"]
    lines += [f"{shown} {_package(distribution)}" for shown, distribution in PACKAGES]
    lines.append(f"tfjs {tfjs_version()} (vendored in the web app)")
    return "\n".join(lines)
