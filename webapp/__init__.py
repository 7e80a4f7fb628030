"""The edgeship web app: serves export folders to an offline Progressive Web App.

One blueprint per feature: `models` (API and export files), `finetune` (uploads of fine-tuned models),
`finetune_store` (the fine-tuned exports kept, and their deletion), `shell` (front end and service worker),
`security` (which requests are answered, headers on every response), `errors` (the JSON error handler),
`connect` (how a phone reaches the server). `edgeship serve` runs it under waitress, or under cheroot for
HTTPS (`--lan`, webapp/serve.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "EXPORTS_DIR": Path("dist"),  # one export folder, or a folder of export folders
    "STATIC_DIR": Path(__file__).parent / "static",
    # Room for the fine-tuned weights a browser will upload; anything larger is refused with a 413.
    # `edgeship serve` gives waitress the same limit, so nothing larger is even stored.
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    # Host values answered ("name:port", or "name" for any port): loopback only, against DNS rebinding.
    # `edgeship serve` sets the names with the port it bound (webapp/security.py bound_hosts).
    "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "[::1]"],
    # The fine-tuned exports this server keeps (webapp/finetune.py): past either, uploads are a 507.
    "FINETUNED_MAX_COUNT": 20,
    "FINETUNED_MAX_BYTES": 1024 * 1024 * 1024,
    # Uploads admitted beside the one converting; more are refused at once with a 503 and Retry-After, so
    # waiting uploads hold at most this many + 1 of the server's threads.
    "FINETUNE_WAITING": 2,
    # What /connect shows (webapp/connect.py Connect): set by `edgeship serve --lan`, else None.
    "CONNECT": None,
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from webapp import connect, errors, finetune, finetune_store, models, security, shell

    # static_folder=None: the shell blueprint serves static files itself, with the headers and checks above.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(DEFAULTS)
    if config is not None:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep manifests in the order they were written
    # Without this, `//etc/passwd` would be answered with a redirect rather than a 404.
    app.url_map.merge_slashes = False
    for blueprint in (
        security.bp,
        errors.bp,
        models.bp,
        finetune.bp,
        finetune_store.bp,
        connect.bp,
        shell.bp,
    ):
        app.register_blueprint(blueprint)
    return app
