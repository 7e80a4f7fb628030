"""The fine-tuned exports this server created: how many it keeps, and DELETE /api/models/<id>.

An export counts as created here only when three things agree: its id has the `-ft-<stamp>-<hex>` form
finetune.new_id gives, its manifest is an edgeship export built from the model file finetune.py writes, and
it holds the marker finetune.py puts in its `source/` folder, which the exporter publishes atomically with
the rest (and which is never served). Anything else in the folder is the user's: never counted, never
deleted. A delete renames the folder to a hidden name first, so a listing never shows half an export, and
only then removes it.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import Conflict, Forbidden, HTTPException, NotFound

from webapp import exports

log = logging.getLogger(__name__)

bp = Blueprint("finetune_store", __name__)

CREATED_MARKER = "source/finetuned.json"
CREATED_BY = "edgeship serve"
SOURCE_FILE = "model.h5"  # the model file finetune.py builds and exports
FINETUNED_ID = re.compile(r".+-ft-\d{14}-[0-9a-f]{6}")
NOT_OURS = (
    "export '{id}' was not made by this server from a fine-tuned upload, so it is not deleted; edgeship "
    "deletes only the fine-tuned exports it created (remove other folders yourself)"
)
SINGLE_FOLDER = (
    "the server serves a single export folder; it deletes fine-tuned exports only from a folder of exports"
)
MIB = 1024 * 1024


class StoreFull(HTTPException):
    code = 507  # Insufficient Storage (werkzeug has no class for it)


def created_marker(export_id: str, base_id: str) -> dict[str, str]:
    return {"created_by": CREATED_BY, "id": export_id, "base": base_id}


def write_marker(source_folder: Path, export_id: str, base_id: str) -> None:
    """The marker, in the folder the exporter copies into the new export as `source/`."""
    marker = source_folder / Path(CREATED_MARKER).name
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(created_marker(export_id, base_id)), encoding="utf-8")


def created_here(export_id: str, folder: Path) -> bool:
    if FINETUNED_ID.fullmatch(export_id) is None or folder.is_symlink():
        return False
    loaded = exports.load(export_id, folder)
    source: Any = loaded.manifest.get("source") if loaded is not None else None
    if not isinstance(source, dict) or source.get("file") != SOURCE_FILE:
        return False
    marker_path = folder / CREATED_MARKER
    try:
        if marker_path.is_symlink():
            return False
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (
        isinstance(marker, dict) and marker.get("created_by") == CREATED_BY and marker.get("id") == export_id
    )


@dataclass(frozen=True)
class Usage:
    count: int
    bytes: int


def usage(root: Path) -> Usage:
    """How many fine-tuned exports created here lie in `root`, and the bytes of their files."""
    count = total = 0
    for export_id, folder in exports.export_folders(root).items():
        if folder != root and created_here(export_id, folder):
            count += 1
            total += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return Usage(count, total)


def check_room(root: Path) -> None:
    """StoreFull (507) when the fine-tuned exports here reach either limit of the app's config."""
    max_count = int(current_app.config["FINETUNED_MAX_COUNT"])
    max_bytes = int(current_app.config["FINETUNED_MAX_BYTES"])
    used = usage(root)
    if used.count >= max_count or used.bytes >= max_bytes:
        mib = max_bytes // MIB if max_bytes % MIB == 0 else f"{max_bytes / MIB:.1f}"
        raise StoreFull(
            f"the server keeps at most {max_count} fine-tuned exports and {mib} MiB of them, and holds "
            f"{used.count} ({used.bytes:,} bytes); delete one (Delete in the app's Convert for mobile list, "
            "or DELETE /api/models/<id>) and convert again"
        )


@bp.delete("/api/models/<model_id>")
def delete(model_id: str) -> Response:
    root = Path(current_app.config["EXPORTS_DIR"])
    folder = exports.export_folders(root).get(model_id)
    if folder is None:
        raise NotFound("no export with this id")
    if folder == root:
        raise Conflict(SINGLE_FOLDER)
    if not created_here(model_id, folder):
        raise Forbidden(NOT_OURS.format(id=model_id))
    hidden = root / f".{model_id}.deleting-{secrets.token_hex(4)}"
    try:
        folder.rename(hidden)  # atomic: from here on no request finds it
    except FileNotFoundError:
        raise NotFound("no export with this id") from None  # deleted by another request meanwhile
    try:
        shutil.rmtree(hidden)
    except OSError as error:  # hidden, so never listed; the next delete of the same id cannot reach it
        log.warning("deleted %s, but removing %s failed: %s", model_id, hidden, error)
    log.info("deleted fine-tuned export %s", model_id)
    return jsonify({"id": model_id, "deleted": True})
