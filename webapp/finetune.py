"""POST /api/models/<id>/finetuned: a model fine-tuned in the browser comes back as a new export.

The request format is in docs/FINETUNE_API.md. Order of work: find the base export (404), make sure there is
a folder of exports to add to (409) with room for one more (`finetune_store`, 507), refuse a body over the
limit before reading it (413), take a place in the conversion queue (503), check every part in memory
(`finetune_checks`, 400/413), and only then build the tf-keras model in a temporary folder outside the
served one and run the exporter, which publishes the new export atomically under a new id.

One export runs at a time, and at most FINETUNE_WAITING uploads wait for it: each waiting upload holds one
of waitress' threads, and those threads also serve the pages, so an upload beyond that is refused at once
with a 503 and Retry-After (the app's outbox sends it again then).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    HTTPException,
    InternalServerError,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
)

import exporter
from webapp import exports, finetune_store
from webapp.finetune_checks import (
    BASE_VARIANT,
    PARTS,
    Base,
    BaseUnusable,
    Upload,
    UploadRejected,
    limits,
    read_base,
    too_large,
    validate,
)
from webapp.security import resolve_inside

log = logging.getLogger(__name__)

bp = Blueprint("finetune", __name__)

# The ladder a fine-tune gets, from the exporter's own VARIANTS (so an id can never be one it does not know):
# every variant the upload's samples allow, which calibrate int8 but are no labelled set for QAT, less
# tflite-fp16 (docs/FINETUNE_API.md lists the six).
LEFT_OUT = frozenset({"tflite-fp16"})
VARIANTS = [
    variant
    for variant, spec in exporter.VARIANTS.items()
    if variant not in LEFT_OUT and exporter.Need.TRAIN not in spec.needs
]
SINGLE_EXPORT = (
    "the server serves a single export folder, so there is no place to store a fine-tuned model beside it; "
    "serve the folder that holds the export folders instead"
)
EXPORT_FAILED = "converting the fine-tuned model failed on the server; nothing was stored"
NOT_REBUILT = "the fine-tuned model could not be rebuilt from the base model's topology; nothing was stored"
_FINETUNED_SUFFIX = re.compile(r"(-ft-\d{14}-[0-9a-f]{6})+$")
RETRY_AFTER_S = 30
_EXPORT_LOCK = threading.Lock()


class ExportFailed(HTTPException):
    """A 500 whose fixed message reaches the client (the error handler hides InternalServerError's text)."""

    code = 500


class _Queue:
    """Counts the uploads admitted: the one converting (it holds _EXPORT_LOCK) and those waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.admitted = 0

    @contextmanager
    def place(self, waiting: int) -> Iterator[None]:
        with self._lock:
            if self.admitted > waiting:
                raise ServiceUnavailable(
                    f"the server is converting other uploads (1 converting, {self.admitted - 1} waiting); "
                    f"send this one again in {RETRY_AFTER_S} s (the app does so by itself)",
                    retry_after=RETRY_AFTER_S,
                )
            self.admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self.admitted -= 1


QUEUE = _Queue()


@bp.post("/api/models/<model_id>/finetuned")
def finetuned(model_id: str) -> tuple[Response, int, dict[str, str]]:
    root = Path(current_app.config["EXPORTS_DIR"])
    folder = exports.export_folders(root).get(model_id)
    loaded = exports.load(model_id, folder) if folder is not None else None
    if loaded is None:
        raise NotFound("no export with this id")
    if (root / exports.MANIFEST).is_file():
        raise Conflict(SINGLE_EXPORT)
    finetune_store.check_room(root)
    base = _base(loaded)
    limit = limits(base)
    if request.content_length is not None and request.content_length > limit.total:
        raise RequestEntityTooLarge(too_large(request.content_length, base))
    with QUEUE.place(int(current_app.config["FINETUNE_WAITING"])):
        # The model JSON may come as a plain form field; let it be as large as its own limit allows.
        request.max_form_memory_size = limit.model_json
        try:
            upload = validate(base, *(_part(name) for name in PARTS))
        except UploadRejected as rejected:
            error = RequestEntityTooLarge if rejected.status == 413 else BadRequest
            raise error(str(rejected)) from None
        export_id = export_finetuned(upload, base, root)
    created = exports.load(export_id, root / export_id)
    if created is None:  # the exporter wrote a manifest it cannot read back: a bug
        raise InternalServerError()
    files = {
        variant: exports.model_url(export_id, entry["entry"])
        for variant, entry in created.manifest.get("variants", {}).items()
    }
    body = {
        "id": export_id,
        "base": model_id,
        "manifest": created.manifest,
        "report": created.report,
        "files": files,
    }
    return jsonify(body), 201, {"Location": exports.model_url(export_id, exports.MANIFEST)}


def _base(loaded: exports.Export) -> Base:
    variants = loaded.manifest.get("variants")
    variant = variants.get(BASE_VARIANT) if isinstance(variants, dict) else None
    entry = variant.get("entry") if isinstance(variant, dict) else None
    no_base = (
        f"export '{loaded.id}' has no {BASE_VARIANT} variant, which fine-tuning in the browser starts from"
    )
    if not isinstance(entry, str):
        raise Conflict(no_base)
    try:
        path = resolve_inside(loaded.path, entry)
        model_json: Any = json.loads(path.read_text(encoding="utf-8"))
    except (NotFound, OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise Conflict(no_base) from None
    try:
        return read_base(loaded.id, loaded.manifest, model_json)
    except BaseUnusable as error:
        raise Conflict(str(error)) from None


def _part(name: str) -> bytes | None:
    """A part's bytes: a file part, or (for the JSON model only) a plain form field."""
    file = request.files.get(name)
    if file is not None:
        return file.read()
    value = request.form.get(name)
    if value is None:
        return None
    if name != "model":
        raise BadRequest(f"part '{name}' must be binary: append it to the FormData as a Blob")
    return value.encode("utf-8")


# --- building and exporting -----------------------------------------------------------------------------


def new_id(base_id: str, root: Path) -> str:
    """`<base id>-ft-<UTC yyyymmddHHMMSS>-<6 hex>`; a fine-tune of a fine-tune keeps the original base id."""
    stem = _FINETUNED_SUFFIX.sub("", base_id) or base_id
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        candidate = f"{stem}-ft-{stamp}-{secrets.token_hex(3)}"
        if not (root / candidate).exists() and not exporter.lock_file(root / candidate).exists():
            return candidate


def export_finetuned(upload: Upload, base: Base, root: Path) -> str:
    """Build the checked upload as a tf-keras model and export the TFLite/TFJS ladder; returns the new id."""
    with _EXPORT_LOCK, tempfile.TemporaryDirectory(prefix="edgeship-finetune-") as work:
        finetune_store.check_room(root)  # again: the uploads that waited before this one may have filled it
        export_id = new_id(base.id, root)
        finetune_store.write_marker(Path(work) / "source", export_id, base.id)
        model_path = Path(work) / finetune_store.SOURCE_FILE
        calibration = Path(work) / "calibration.npz"
        try:
            build_model(upload).save(model_path)
        except (ValueError, TypeError, KeyError) as error:
            log.warning("fine-tune of %s: rebuilding the model failed: %s", base.id, error)
            raise BadRequest(NOT_REBUILT) from None
        np.savez(calibration, x=upload.samples)
        _run_export(upload, base, model_path, calibration, root / export_id, Path(work) / "source")
        return export_id


def _run_export(
    upload: Upload, base: Base, model: Path, calibration: Path, out: Path, source_folder: Path
) -> None:
    options = exporter.ExportOptions(
        model=model,
        out=out,
        calibration=calibration,
        variants=VARIANTS,
        name=upload.name,
        labels=upload.labels,
        preprocessing=base.preprocessing,
        allow_degraded=True,
        source_folder=source_folder,  # the marker that lets DELETE /api/models/<id> remove it again
        quiet=True,
    )
    try:
        exporter.export(options)
    except exporter.EdgeshipError as error:
        log.error("fine-tune of %s: the export failed: %s", base.id, error)
        raise ExportFailed(EXPORT_FAILED) from None


def build_model(upload: Upload) -> Any:
    """The tf-keras model: the checked topology, every weight set by name (as exporter/targets/tfjs.py)."""
    import tf_keras

    model = tf_keras.models.model_from_json(json.dumps(upload.topology))
    exporter.set_weights_by_tfjs_name(model, upload.weights)
    return model
