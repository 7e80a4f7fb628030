"""Finding and reading export folders (docs/EXPORT_FORMAT.md). No Flask here: serve.py uses it too.

Everything is read from disk on each call: a manifest is a few kilobytes, and reading it afresh is what
lets a re-export that replaces a folder show up without restarting the server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from webapp.files import is_content_hashed

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REPORT = "report.json"
FORMAT = "edgeship-export"
DEFAULT_NAME = "demo"

# What a browser may fetch from an export folder: the manifest, the figures and the model files. Not
# source/ (the demo's training data and .keras file) nor anything else that happens to lie there.
SERVED_FILES = frozenset({MANIFEST, REPORT})
EVAL_FILE = re.compile(r"^eval(?:\.[0-9a-f]{8,})?\.json$")  # the eval sample, named by its content
SERVED_FOLDERS = frozenset({"tflite", "tfjs"})

Json = dict[str, Any]


@dataclass(frozen=True)
class Export:
    id: str
    path: Path
    manifest: Json
    report: Json | None


def export_folders(root: Path) -> dict[str, Path]:
    """id -> folder, sorted by id. `root` is one export folder (its id is its own name) or holds several.

    Hidden sub-folders are skipped: that is where an export in progress may stage its files.
    """
    if (root / MANIFEST).is_file():
        return {root.resolve().name: root}
    if not root.is_dir():
        return {}
    children = (c for c in root.iterdir() if not c.name.startswith(".") and (c / MANIFEST).is_file())
    return {child.name: child for child in sorted(children, key=lambda c: c.name)}


def _read_json(path: Path) -> Json | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("skipping %s: %s", path, error)
        return None
    return data if isinstance(data, dict) else None


def load(export_id: str, folder: Path) -> Export | None:
    """The export in `folder`, or None when its manifest is unreadable or not an edgeship export."""
    manifest = _read_json(folder / MANIFEST)
    if manifest is None or manifest.get("format") != FORMAT:
        return None
    report = _read_json(folder / REPORT) if (folder / REPORT).is_file() else None
    return Export(export_id, folder, manifest, report)


def load_all(root: Path) -> list[Export]:
    loaded = (load(export_id, folder) for export_id, folder in export_folders(root).items())
    return [export for export in loaded if export is not None]


def default_id(ids: list[str]) -> str | None:
    """`demo` when there is one, else the first by name (ids come sorted)."""
    if DEFAULT_NAME in ids:
        return DEFAULT_NAME
    return ids[0] if ids else None


def is_served(relative: str) -> bool:
    """Whether a browser may fetch `relative` (a normalised path inside an export folder)."""
    if posixpath.normpath(relative) != relative:  # a manifest entry such as tflite/../source/x
        return False
    first, _, rest = relative.partition("/")
    return (
        relative in SERVED_FILES
        or EVAL_FILE.match(relative) is not None
        or (first in SERVED_FOLDERS and rest != "")
    )


def model_url(export_id: str, relative: str) -> str:
    return "/models/" + quote(f"{export_id}/{relative}")


def manifest_files(manifest: Json) -> Iterator[tuple[str, str | None]]:
    """(relative path, sha256 from the manifest or None) for every file the browser needs offline."""
    yield MANIFEST, None
    yield REPORT, None
    if isinstance(manifest.get("eval"), str):
        yield manifest["eval"], None
    variants = manifest.get("variants")
    for variant in variants.values() if isinstance(variants, dict) else ():
        for file in variant.get("files", ()):
            yield file["path"], file.get("sha256")
        if isinstance(variant.get("parity"), str):
            yield variant["parity"], None


@lru_cache(maxsize=512)
def _sha256(path: Path, inode: int, mtime_ns: int, size: int) -> str:
    # Keyed by the file's identity and stat, so a replaced file is hashed again and an unchanged one never.
    return hashlib.sha256(path.read_bytes()).hexdigest()


def precache_entries(export: Export) -> list[Json]:
    """Workbox precache entries {"url", "revision"} for `export`.

    Content-hashed names are their own revision (null). Other files take the manifest's sha256 or, for
    those the manifest does not hash (manifest, report, eval, parity), the hash of the bytes on disk, so
    that replacing the export changes the list and therefore /sw.js. Files missing on disk are left out:
    one failing URL would make the whole precache, and so the service worker install, fail.
    """
    entries: list[Json] = []
    seen: set[str] = set()
    for relative, sha256 in manifest_files(export.manifest):
        path = export.path / relative
        if relative in seen or not is_served(relative) or not path.is_file():
            if relative not in seen:
                log.warning("not precaching %s/%s: missing or not served", export.id, relative)
            continue
        seen.add(relative)
        if is_content_hashed(relative):
            revision = None
        elif isinstance(sha256, str):
            revision = sha256
        else:
            stat = path.stat()
            revision = _sha256(path, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        entries.append({"url": model_url(export.id, relative), "revision": revision})
    return entries
