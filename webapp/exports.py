"""Finding and reading export folders (docs/EXPORT_FORMAT.md). No Flask here: serve.py uses it too.

Everything is read from disk on each call: a manifest is a few kilobytes, and reading it afresh is what
lets a re-export that replaces a folder show up without restarting the server.

Nothing in an export folder is trusted, and the server, /sw.js and `edgeship build-site` apply the same
rules, here:
- A file is published only when, symlinks followed, it is a regular file inside its export folder and one a
  browser may fetch (`served_file`, the rule webapp/security.resolve_inside applies to requests). A symlink
  that stays inside (tfjs/fp32/x.bin -> ../../tflite/x.bin) is followed; one that leads out never is, and
  the file is left out with a warning naming it.
- An export folder that is itself a symlink is followed only when it resolves inside the folder being
  served (an alias such as `latest -> demo-3`); one that leads elsewhere is skipped with a warning, so no
  route, not even /models/<id>/..., reads through it.
- A manifest is checked once, in `load`, for the shape of every field the server and the app read
  (docs/EXPORT_FORMAT.md); a malformed one skips its export with one warning line naming the problem, and
  the other exports are served as before.
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
from webapp.manifest_shape import manifest_problem

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

    Hidden sub-folders are skipped: that is where an export in progress may stage its files. So is a
    sub-folder that is a symlink leading out of `root` (see the module docstring).
    """
    if (root / MANIFEST).is_file():
        return {root.resolve().name: root}
    if not root.is_dir():
        return {}
    base = root.resolve()
    folders = {}
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        if child.name.startswith(".") or not (child / MANIFEST).is_file():
            continue
        if not _resolves_inside(child, base):
            log.warning(
                "skipping export '%s': its folder is a symlink that leads outside %s; "
                "move the export into %s to publish it",
                child.name,
                root,
                root,
            )
            continue
        folders[child.name] = child
    return folders


def _resolves_inside(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False


class NotServed(Exception):
    """Why a file is not published; the message completes "leaving out <id>/<file>: ..."."""


OUTSIDE = "it is a symlink that leads outside the export folder; put the file itself in the export"


def served_file(folder: Path, relative: str) -> Path:
    """The file GET /models/<id>/<relative> answers with: a regular file that, symlinks followed, lies in
    `folder` under a name a browser may fetch (the resolved name counts, so a symlink cannot lead from
    tflite/ to source/). NotServed, saying why, otherwise."""
    if not is_served(relative) or "\\" in relative or "\x00" in relative:
        raise NotServed(
            "browsers may not fetch it (only manifest.json, report.json, eval*.json, tflite/ and tfjs/ are)"
        )
    try:
        base = folder.resolve()
        path = (folder / relative).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        raise NotServed(
            "it is a symlink that cannot be resolved (a loop); put the file itself in the export"
        ) from None
    if not path.is_relative_to(base):
        raise NotServed(OUTSIDE)
    if not path.is_file():
        raise NotServed("it is not a regular file" if path.exists() else "it is missing; re-export the model")
    if not is_served(path.relative_to(base).as_posix()):
        raise NotServed("it is a symlink to a file browsers may not fetch; put the file itself in the export")
    return path


def _parse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, browsers' JSON.parse does not


def _read_json(path: Path) -> tuple[Json | None, str]:
    """(the JSON object in `path`, "") or (None, what is wrong with it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_parse_constant)
    except RecursionError:
        return None, "is not valid JSON (nested too deeply)"
    except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        return None, f"is not valid JSON ({error})"
    return (data, "") if isinstance(data, dict) else (None, "is not a JSON object")


def load(export_id: str, folder: Path) -> Export | None:
    """The export in `folder`, or None when its manifest is unreadable, malformed or not an edgeship export.

    Every reason but the last logs one warning naming the export: a folder of some other tool's files is
    simply not an export.
    """
    try:
        manifest, problem = _read_json(served_file(folder, MANIFEST))
    except NotServed as refused:
        log.warning("skipping export '%s': its %s: %s", export_id, MANIFEST, refused)
        return None
    if manifest is None:
        log.warning("skipping export '%s': its %s %s; re-export the model", export_id, MANIFEST, problem)
        return None
    if manifest.get("format") != FORMAT:
        return None
    shape_problem = manifest_problem(manifest)
    if shape_problem is not None:
        log.warning(
            "skipping export '%s': its %s is malformed (%s); re-export the model",
            export_id,
            MANIFEST,
            shape_problem,
        )
        return None
    return Export(export_id, folder, manifest, _report(export_id, folder))


def _report(export_id: str, folder: Path) -> Json | None:
    """report.json, or None when there is none to publish (published_files names why)."""
    try:
        path = served_file(folder, REPORT)
    except NotServed:
        return None
    report, problem = _read_json(path)
    if report is None:
        log.warning("ignoring the %s of export '%s': it %s", REPORT, export_id, problem)
    return report


def load_all(root: Path) -> list[Export]:
    loaded = (load(export_id, folder) for export_id, folder in export_folders(root).items())
    return [export for export in loaded if export is not None]


def default_id(ids: list[str]) -> str | None:
    """`demo` when there is one, else the first by name (ids come sorted)."""
    if DEFAULT_NAME in ids:
        return DEFAULT_NAME
    return ids[0] if ids else None


def default_export(loaded: list[Export]) -> Export | None:
    chosen = default_id([export.id for export in loaded])
    return next((export for export in loaded if export.id == chosen), None)


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
    """(relative path, sha256 from the manifest or None) for every file the browser needs offline.

    `manifest` is one `load` accepted, so every field read here has the shape manifest_shape checks.
    """
    yield MANIFEST, None
    yield REPORT, None
    if isinstance(manifest.get("eval"), str):
        yield manifest["eval"], None
    for variant in manifest["variants"].values():
        browser = variant.get("browser")  # a TFLite variant's file for LiteRT.js, and its parity fixture
        if browser is not None:
            # The browser runs only this file. The deployable one (free batch, int8 I/O) is for apps and
            # boards and stays in the export folder: precaching it too would double what a phone
            # downloads (~30 MB more for MobileNetV2's ladder).
            for file in browser["files"]:
                yield file["path"], file.get("sha256")
            yield browser["parity"], None
            continue
        for file in variant["files"]:
            yield file["path"], file.get("sha256")
        if isinstance(variant.get("parity"), str):
            yield variant["parity"], None


@dataclass(frozen=True)
class PublishedFile:
    relative: str  # as the manifest names it: the URL is model_url(id, relative)
    path: Path  # the file on disk, symlinks resolved
    sha256: str | None  # from the manifest


def published_files(export: Export) -> list[PublishedFile]:
    """The files of `export` that a browser gets: what the server answers, /sw.js precaches and
    `edgeship build-site` copies. Each file left out is named in one warning line saying why."""
    published: list[PublishedFile] = []
    seen: set[str] = set()
    for relative, sha256 in manifest_files(export.manifest):
        if relative in seen:
            continue
        seen.add(relative)
        try:
            published.append(PublishedFile(relative, served_file(export.path, relative), sha256))
        except NotServed as refused:
            log.warning("leaving out %s/%s: %s", export.id, relative, refused)
    return published


@lru_cache(maxsize=512)
def _sha256(path: Path, inode: int, mtime_ns: int, size: int) -> str:
    # Keyed by the file's identity and stat, so a replaced file is hashed again and an unchanged one never.
    return hashlib.sha256(path.read_bytes()).hexdigest()


def precache_entries(export: Export, files: list[PublishedFile] | None = None) -> list[Json]:
    """Workbox precache entries {"url", "revision"} for `export` (its published files, unless given).

    Content-hashed names are their own revision (null). Other files take the manifest's sha256 or, for
    those the manifest does not hash (manifest, report, eval, parity), the hash of the bytes on disk, so
    that replacing the export changes the list and therefore /sw.js. Files not published are left out:
    one failing URL would make the whole precache, and so the service worker install, fail.
    """
    entries: list[Json] = []
    for file in published_files(export) if files is None else files:
        if is_content_hashed(file.relative):
            revision = None
        elif isinstance(file.sha256, str):
            revision = file.sha256
        else:
            try:
                stat = file.path.stat()
                revision = _sha256(file.path, stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except OSError as error:  # replaced by a re-export since it was found: the next /sw.js lists it
                log.warning("leaving out %s/%s: %s", export.id, file.relative, error.strerror)
                continue
        entries.append({"url": model_url(export.id, file.relative), "revision": revision})
    return entries
