"""/connect: how a phone reaches this server: a QR code of the LAN address, edgeship's CA certificate, and how
to trust it on Android and iOS.

`edgeship serve --lan` puts a `Connect` in the app's config (CONNECT); without it the page says how to start
the server for the network. The page is static HTML with its own stylesheet and no script (the app's CSP
holds here too); the QR code is an SVG image from segno. Only the CA's certificate is ever sent, re-encoded
from the parsed certificate, so no byte of a key file can follow it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from string import Template

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, current_app
from werkzeug.exceptions import NotFound

from webapp.files import REVALIDATE
from webapp.lan import svg_qr

bp = Blueprint("connect", __name__)

PAGES = Path(__file__).parent / "templates" / "connect"
# What Android's and iOS' browsers hand to the certificate installer (a .crt download, DER inside).
CA_MIME = "application/x-x509-ca-cert"


@dataclass(frozen=True)
class Connect:
    """What /connect shows: the app's URL for phones, the others, edgeship's CA (None: the user's own)."""

    url: str
    also: tuple[str, ...]
    ca: Path | None
    fingerprint: str | None


def _page(name: str, markup: dict[str, str] | None = None, **text: str) -> str:
    """Template `name` with `text` escaped and `markup` (pages made by _page) as it is, in one pass."""
    values = {**{key: html.escape(value) for key, value in text.items()}, **(markup or {})}
    return Template((PAGES / name).read_text(encoding="utf-8")).substitute(values)


def _html(body: str) -> Response:
    page = _page("connect.html", {"body": body})
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # it names this run's addresses
    return response


def _connect() -> Connect | None:
    value = current_app.config.get("CONNECT")
    return value if isinstance(value, Connect) else None


@bp.get("/connect")
def page() -> Response:
    connect = _connect()
    if connect is None:
        return _html(_page("no_lan.html"))
    if connect.ca is not None:
        trust = _page("trust.html", fingerprint=connect.fingerprint or "")
    else:
        trust = _page("own.html")
    also = ", ".join(connect.also) or "none"
    return _html(_page("lan.html", {"trust": trust}, url=connect.url, also=also))


@bp.get("/connect/connect.css")
def stylesheet() -> Response:
    response = Response((PAGES / "connect.css").read_bytes(), mimetype="text/css")
    response.headers["Cache-Control"] = REVALIDATE
    return response


@bp.get("/connect/qr.svg")
def qr() -> Response:
    connect = _connect()
    if connect is None:
        raise NotFound()
    response = Response(svg_qr(connect.url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


def _ca() -> x509.Certificate:
    connect = _connect()
    if connect is None or connect.ca is None:
        raise NotFound()
    return x509.load_pem_x509_certificate(connect.ca.read_bytes())


def _download(data: bytes, name: str) -> Response:
    response = Response(data, mimetype=CA_MIME)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/connect/edgeship-ca.crt")
def ca_der() -> Response:
    return _download(_ca().public_bytes(serialization.Encoding.DER), "edgeship-ca.crt")


@bp.get("/connect/edgeship-ca.pem")
def ca_pem() -> Response:
    return _download(_ca().public_bytes(serialization.Encoding.PEM), "edgeship-ca.pem")
