"""`edgeship build-site DIR OUT`: the app, its service worker and the exports as a plain static folder.

For many visitors, shards should come from a CDN, not from Flask. The folder holds exactly what the server
would answer: the front end, `/sw.js` with the models line in front, `/api/models` as a JSON file, and each
export's served files under `/models/<id>/`. The headers the app needs (cross-origin isolation, the two
Content-Security-Policies, caching) are written beside it as `_headers` (Netlify / Cloudflare Pages format)
and `_nginx.conf` (to include in an nginx `server {}` whose root is OUT). Only "Convert for mobile" needs the
Flask API; on a static host the app says so.

The site publishes exactly what the server would (the rules are in webapp/exports.py): no file reached by a
symlink that leads out of its export, no export folder that is a symlink leading out of DIR, no export whose
manifest is malformed. Each one left out is named in a warning line on stderr, and the rest is published.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from exporter import SITE_MARKER, SITE_RULE, check_replaceable, staged_output
from webapp import exports
from webapp.files import IMMUTABLE, REVALIDATE
from webapp.security import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    WORKER_CONTENT_SECURITY_POLICY,
    WORKER_PATH_PREFIX,
)
from webapp.serve_error import ServeError
from webapp.shell import SW_JS, models_line

STATIC_DIR = Path(__file__).parent / "static"
# Types nginx must send; listed in full because a `types {}` block replaces nginx's own table.
TYPES = {
    "text/html": "html",
    "text/css": "css",
    "text/javascript": "js mjs",
    "application/json": "json map",
    "application/wasm": "wasm",
    "application/manifest+json": "webmanifest",
    "image/png": "png",
    "image/svg+xml": "svg",
    "image/x-icon": "ico",
    "application/octet-stream": "bin tflite",
}


@dataclass(frozen=True)
class Site:
    out: Path
    exports: list[str]
    files: int


def build_site(exports_dir: Path, out: Path, static_dir: Path = STATIC_DIR) -> Site:
    # OUT is replaced whole: only an empty folder or a site edgeship built, never one holding the exports.
    rule = replace(SITE_RULE, inputs=(("the exports folder", exports_dir),))
    rule = replace(rule, outside=rule.inputs)
    check_replaceable(out, rule)
    loaded = exports.load_all(exports_dir)
    if not loaded:
        raise ServeError(f"{exports_dir} holds no export (no manifest.json); run `edgeship export` first")
    if not (static_dir / SW_JS).is_file():
        raise ServeError("the web app is not built (no service worker); run make setup")
    with staged_output(out, rule) as staging:
        shutil.copytree(static_dir, staging, dirs_exist_ok=True, ignore=_not_served(static_dir))
        # Looked up once for /sw.js and the copy alike, so each file left out is named in one warning.
        published = {export.id: exports.published_files(export) for export in loaded}
        line = models_line(exports.default_export(loaded), published)
        (staging / SW_JS).write_bytes(line.encode() + (static_dir / SW_JS).read_bytes())
        for export in loaded:
            _copy_export(published[export.id], staging / "models" / export.id)
        models = {
            "models": [{"id": e.id, "manifest": e.manifest, "report": e.report} for e in loaded],
            "default": exports.default_id([e.id for e in loaded]),
        }
        (staging / "api").mkdir()
        (staging / "api" / "models").write_text(json.dumps(models))
        (staging / "_headers").write_text(netlify_headers())
        (staging / "_nginx.conf").write_text(nginx_snippet())
        (staging / SITE_MARKER).write_text(json.dumps({"format": "edgeship-site", "version": 1}))
        count = sum(1 for p in staging.rglob("*") if p.is_file())
    return Site(out=out, exports=[e.id for e in loaded], files=count)


def _not_served(static_dir: Path) -> Callable[[str, list[str]], set[str]]:
    """Build stamps (dotfiles) and the raw service worker (it lacks the models line) stay behind."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".") or (Path(folder) == static_dir and n == SW_JS)}

    return ignore


def _copy_export(files: list[exports.PublishedFile], target: Path) -> None:
    """Copy what the server would answer for each file: its bytes, never a link (published_files has
    followed it, inside the export only, and named each file it left out)."""
    for file in files:
        (target / file.relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file.path, target / file.relative)


def _security(csp: str | None) -> dict[str, str]:
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
    if csp:
        headers["Content-Security-Policy"] = csp
    return headers


# (path rule, headers). CSP goes only on documents and the worker script: a response's CSP governs the
# document or worker it creates, and a host that merges rules would otherwise enforce both policies at once.
def _rules() -> list[tuple[str, dict[str, str]]]:
    page, worker = _security(CONTENT_SECURITY_POLICY), _security(WORKER_CONTENT_SECURITY_POLICY)
    return [
        ("/", {**page, "Cache-Control": REVALIDATE}),
        ("/index.html", {**page, "Cache-Control": REVALIDATE}),
        (f"{WORKER_PATH_PREFIX}*", {**worker, "Cache-Control": REVALIDATE}),
        ("/sw.js", {**_security(None), "Cache-Control": REVALIDATE, "Service-Worker-Allowed": "/"}),
        ("/api/models", {**_security(None), "Cache-Control": REVALIDATE, "Content-Type": "application/json"}),
        ("/models/:id/tflite/*", {**_security(None), "Cache-Control": IMMUTABLE}),
        ("/models/:id/tfjs/*", {**_security(None), "Cache-Control": IMMUTABLE}),
        ("/*", {**_security(None)}),
    ]


def netlify_headers() -> str:
    lines = ["# edgeship: headers for Netlify or Cloudflare Pages (the file must sit at the site's root)."]
    for path, headers in _rules():
        lines.append(path)
        lines.extend(f"  {name}: {value}" for name, value in headers.items())
    return "\n".join(lines) + "\n"


def _add_headers(headers: dict[str, str], indent: str = "    ") -> str:
    # `always`: on errors too. Each location repeats them because nginx does not inherit add_header into a
    # location that sets its own.
    return "".join(f'{indent}add_header {name} "{value}" always;\n' for name, value in headers.items())


def _location(match: str, headers: dict[str, str], extra: str = "") -> str:
    return f"location {match} {{\n{extra}{_add_headers(headers)}}}\n"


def nginx_snippet() -> str:
    page, worker = _security(CONTENT_SECURITY_POLICY), _security(WORKER_CONTENT_SECURITY_POLICY)
    plain = _security(None)
    types = "".join(f"    {mime} {exts};\n" for mime, exts in TYPES.items())
    return (
        "# edgeship static site for nginx: include this file inside the server {} block whose root is the\n"
        "# folder `edgeship build-site` wrote. Every file but manifests, reports, /sw.js and /api/models is\n"
        "# named by its content, so those under /models/*/tflite and /tfjs may be cached forever.\n"
        f"types {{\n{types}}}\n"
        "default_type application/octet-stream;\n"
        "index index.html;\n"
        "location ~ ^/_(headers|nginx\\.conf)$ {\n    return 404;\n}\n"
        + _location(
            "= /api/models", {**plain, "Cache-Control": REVALIDATE}, "    default_type application/json;\n"
        )
        + _location("= /sw.js", {**plain, "Cache-Control": REVALIDATE, "Service-Worker-Allowed": "/"})
        + _location(WORKER_PATH_PREFIX, {**worker, "Cache-Control": REVALIDATE})
        + _location("~ ^/models/[^/]+/(tflite|tfjs)/", {**plain, "Cache-Control": IMMUTABLE})
        + _location("/models/", {**plain, "Cache-Control": REVALIDATE})
        + _location("/", {**page, "Cache-Control": REVALIDATE})
    )
