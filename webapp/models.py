"""The model API and the export files: GET /api/models and GET /models/<id>/<path>.

Later model routes (POST /api/models/<id>/finetuned) belong in a blueprint of their own beside this one,
reusing `exports` for lookup.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import NotFound

from webapp import exports
from webapp.files import send
from webapp.security import resolve_inside

bp = Blueprint("models", __name__)


def exports_dir() -> Path:
    return Path(current_app.config["EXPORTS_DIR"])


@bp.get("/api/models")
def list_models() -> Response:
    loaded = exports.load_all(exports_dir())
    response = jsonify(
        {
            "models": [{"id": e.id, "manifest": e.manifest, "report": e.report} for e in loaded],
            "default": exports.default_id([e.id for e in loaded]),
        }
    )
    # The list changes whenever an export is added or replaced: never serve it from a cache unchecked.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/models/<model_id>/<path:relative>")
def model_file(model_id: str, relative: str) -> Response:
    folder = exports.export_folders(exports_dir()).get(model_id)
    if folder is None or exports.load(model_id, folder) is None:  # as /api/models: no malformed export
        raise NotFound()
    path = resolve_inside(folder, relative)
    # Judged on the resolved path, so tflite/../source/model.keras cannot reach what is not served.
    if not exports.is_served(path.relative_to(folder.resolve()).as_posix()):
        raise NotFound()
    return send(path)
