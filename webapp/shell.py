"""The app shell: index.html, the rest of the front end, and the service worker.

Files come from STATIC_DIR (webapp/static/, filled by the front end and scripts/vendor.sh). /sw.js is the
built service worker with one line in front of it naming the default model's files, because a browser
looks for a new service worker only when the bytes of /sw.js change: a replaced export must change them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import NotFound, ServiceUnavailable

from webapp import exports
from webapp.files import REVALIDATE, send
from webapp.security import resolve_inside

bp = Blueprint("shell", __name__)

SW_JS = "sw.js"
SW_NOT_BUILT = "the service worker is not built; run make setup"


def static_dir() -> Path:
    return Path(current_app.config["STATIC_DIR"])


@bp.get("/")
def index() -> Response:
    return send(resolve_inside(static_dir(), "index.html"))


@bp.get("/<path:relative>")
def static_file(relative: str) -> Response:
    """Any other file of the front end: /app/..., /styles/..., /vendor/..., /icons/..., /manifest.webmanifest.

    One catch-all rather than a list of folders, so that whatever the workbox manifest lists (it globs
    this folder) can be fetched. Rules with a fixed part (/api/..., /models/..., /sw.js) win over it.
    """
    static = static_dir()
    path = resolve_inside(static, relative)
    shown = path.relative_to(static.resolve())
    # Dotfiles (vendor/.installed) are build stamps; the raw sw.js lacks the models line (see below).
    if any(part.startswith(".") for part in shown.parts) or shown == Path(SW_JS):
        raise NotFound()
    return send(path)


def models_line(
    default: exports.Export | None, published: Mapping[str, list[exports.PublishedFile]] | None = None
) -> str:
    """`self.__EDGESHIP_MODELS__ = {"default": id, "files": [{"url", "revision"}, ...]};` for the worker.

    `published` (files by export id) lets build-site pass the lists it copies, so that each file left out
    is named once; without it the default export's files are looked up afresh.
    """
    files = None if published is None or default is None else published[default.id]
    entries = exports.precache_entries(default, files) if default is not None else []
    chosen = default.id if default is not None else None
    payload = json.dumps({"default": chosen, "files": entries}, separators=(",", ":"))
    return f"self.__EDGESHIP_MODELS__ = {payload};\n"


@bp.get("/sw.js")
def service_worker() -> Response:
    built = static_dir() / SW_JS
    if not built.is_file():
        raise ServiceUnavailable(SW_NOT_BUILT)
    loaded = exports.load_all(Path(current_app.config["EXPORTS_DIR"]))
    body = models_line(exports.default_export(loaded)).encode() + built.read_bytes()
    response = Response(body, mimetype="text/javascript")
    # A strong ETag over exactly the bytes sent: it changes when either the worker or the export changes.
    response.set_etag(hashlib.sha256(body).hexdigest())
    response.headers["Cache-Control"] = REVALIDATE
    # Lets a worker at /sw.js control the whole origin even if it is ever served from a deeper path.
    response.headers["Service-Worker-Allowed"] = "/"
    response.make_conditional(request)  # turns it into a 304 in place when If-None-Match matches
    return response
