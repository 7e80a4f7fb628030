"""The web app server: API, export files, app shell, service worker, security, and `edgeship serve`."""

from __future__ import annotations

import json
import re
import select
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from server_fixtures import STATIC_FILES, write_export, write_static
from werkzeug.exceptions import NotFound

from webapp import create_app
from webapp.security import CONTENT_SECURITY_POLICY, SECURITY_HEADERS, resolve_inside

pytestmark = pytest.mark.filterwarnings("error")

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    write_export(root / "demo")
    write_export(root / "alpha", seed=b"alpha")
    (tmp_path / "secret.txt").write_text("do not serve")
    (root / "demo/tflite/leak.json").symlink_to(tmp_path / "secret.txt")
    return root


class BufferedClient(FlaskClient):
    """Reads each body to the end and closes it, as a WSGI server does: open files would warn otherwise."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_app(config: dict) -> Flask:
    app = create_app({"TESTING": True, **config})
    app.test_client_class = BufferedClient
    return app


@pytest.fixture
def app(tmp_path: Path, exports_dir: Path) -> Flask:
    return make_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": write_static(tmp_path / "static")})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def replace_export(folder: Path, created: str) -> dict:
    """Re-export the way the exporter does: build beside the folder, then swap it in."""
    staging = folder.with_name(f".{folder.name}.new")
    manifest = write_export(staging, created=created, seed=created.encode())
    shutil.rmtree(folder)
    staging.rename(folder)
    return manifest


def hashed_names(manifest: dict) -> list[str]:
    return [f["path"] for v in manifest["variants"].values() for f in v["files"] if f["path"][-4:] != "json"]


# --- /api/models -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "served", "ids", "default"),
    [
        (["demo", "alpha"], "", ["alpha", "demo"], "demo"),
        (["beta", "alpha"], "", ["alpha", "beta"], "alpha"),
        (["beta", "alpha"], "beta", ["beta"], "beta"),  # one export folder: its own name is the id
    ],
)
def test_api_models_lists_exports(tmp_path: Path, names: list[str], served: str, ids: list[str], default):
    manifests = {name: write_export(tmp_path / name, seed=name.encode()) for name in names}
    client = make_app({"EXPORTS_DIR": tmp_path / served}).test_client()
    body = client.get("/api/models").get_json()
    assert [m["id"] for m in body["models"]] == ids and body["default"] == default
    assert [m["manifest"] for m in body["models"]] == [manifests[i] for i in ids]
    assert body["models"][0]["report"]["reference"] == {"accuracy": 0.9}


def test_api_models_skips_hidden_and_broken_folders(client: FlaskClient, exports_dir: Path):
    write_export(exports_dir / ".staging")
    (exports_dir / "broken").mkdir()
    (exports_dir / "broken/manifest.json").write_text("{not json")
    assert [m["id"] for m in client.get("/api/models").get_json()["models"]] == ["alpha", "demo"]


def test_api_models_sees_a_replaced_export_without_restart(client: FlaskClient, exports_dir: Path):
    client.get("/api/models")
    replace_export(exports_dir / "demo", created="2027-01-01T00:00:00+00:00")
    models = client.get("/api/models").get_json()["models"]
    assert models[1]["manifest"]["created"] == "2027-01-01T00:00:00+00:00"


# --- export and shell files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "mimetype"),
    [
        ("/models/demo/manifest.json", "application/json"),
        ("/models/demo/report.json", "application/json"),
        ("/models/demo/eval.json", "application/json"),
        ("/models/demo/tfjs/fp32/model.json", "application/json"),
        ("/models/demo/tflite/fp32.parity.json", "application/json"),
        ("/", "text/html"),
        ("/app/main.js", "text/javascript"),
        ("/index.html", "text/html"),
        ("/styles/app.css", "text/css"),
        ("/vendor/tfjs-backend-wasm.wasm", "application/wasm"),
        ("/icons/icon.svg", "image/svg+xml"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/sw.js", "text/javascript"),
        ("/api/models", "application/json"),
    ],
)
def test_content_types(client: FlaskClient, url: str, mimetype: str):
    response = client.get(url)
    assert (response.status_code, response.mimetype) == (200, mimetype)


def test_hashed_model_files_are_octet_streams_and_immutable(client: FlaskClient, exports_dir: Path):
    manifest = json.loads((exports_dir / "demo/manifest.json").read_text())
    for name in hashed_names(manifest):
        response = client.get(f"/models/demo/{name}")
        assert response.mimetype == "application/octet-stream"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.data == (exports_dir / "demo" / name).read_bytes()


@pytest.mark.parametrize(
    "url",
    ["/models/demo/manifest.json", "/models/demo/tfjs/fp32/model.json", "/", "/sw.js", "/app/main.js"],
)
def test_unhashed_files_are_revalidated(client: FlaskClient, url: str):
    assert client.get(url).headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "url", ["/models/demo/manifest.json", "/models/demo/tfjs/fp32/model.json", "/", "/app/main.js", "/sw.js"]
)
def test_etag_answers_if_none_match_with_304(client: FlaskClient, url: str):
    etag = client.get(url).headers["ETag"]
    response = client.get(url, headers={"If-None-Match": etag})
    assert (response.status_code, response.data, response.headers["ETag"]) == (304, b"", etag)
    assert response.headers["Cache-Control"] == "no-cache"


def test_etag_changes_when_the_export_is_replaced(client: FlaskClient, exports_dir: Path):
    etag = client.get("/models/demo/manifest.json").headers["ETag"]
    replace_export(exports_dir / "demo", created="2027-01-01T00:00:00+00:00")
    assert client.get("/models/demo/manifest.json", headers={"If-None-Match": etag}).status_code == 200


# --- paths outside the served folders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/models/demo/../../secret.txt",
        "/models/demo/tflite/../../../secret.txt",
        "/models/demo/%2e%2e/%2e%2e/secret.txt",
        "/models/demo/%252e%252e/%252e%252e/secret.txt",
        "/models/demo/..%2f..%2fsecret.txt",
        "/models/demo//etc/passwd",
        "/models/demo/%2fetc%2fpasswd",
        "/models/demo/..%5c..%5csecret.txt",
        "/models/demo/tflite\\..\\..\\..\\secret.txt",
        "/models/demo/tflite/leak.json",  # a symlink pointing outside
        "/models/demo/manifest.json%00.png",
        "/models/demo/source/model.keras",  # inside the folder but not for the browser
        "/models/demo/tflite/../source/model.keras",
        "/models/demo/",
        "/models/demo/tflite",
        "/models/%2e%2e/secret.txt",
        "/models/nope/manifest.json",
        "/app/%2e%2e/%2e%2e/secret.txt",
        "/vendor/../../secret.txt",
        "/icons/..%5c..%5csecret.txt",
        "/static/index.html",
        "/vendor/.installed",  # build stamps are not for the browser
        "/app/../sw.js",  # only /sw.js, with the models line
        "/./sw.js",
        "/secret.txt",
    ],
)
def test_paths_outside_are_404_json(client: FlaskClient, tmp_path: Path, url: str):
    response = client.get(url)
    assert (response.status_code, response.get_json()) == (404, {"error": "not found"})
    assert str(tmp_path) not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "untrusted",
    ["/etc/passwd", "../secret.txt", "tflite/../../secret.txt", "..\\secret.txt", "x\x00", "tflite"],
)
def test_resolve_inside_refuses_what_routing_lets_through(exports_dir: Path, untrusted: str):
    with pytest.raises(NotFound):
        resolve_inside(exports_dir / "demo", untrusted)


# --- security headers and errors ---------------------------------------------------------------------------


@pytest.fixture
def boom_client(app: Flask, tmp_path: Path) -> FlaskClient:
    def boom() -> str:
        raise RuntimeError(f"secret detail in {tmp_path}")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does, instead of raising in the test
    app.add_url_rule("/boom", view_func=boom)
    return app.test_client()


def etag_of(client: FlaskClient, url: str) -> str:
    return client.get(url).headers["ETag"]


@pytest.mark.parametrize(
    ("method", "url", "conditional", "status"),
    [
        ("GET", "/api/models", False, 200),
        ("GET", "/models/demo/manifest.json", False, 200),
        ("GET", "/sw.js", False, 200),
        ("GET", "/models/demo/manifest.json", True, 304),
        ("GET", "/models/demo/../../secret.txt", False, 404),
        ("POST", "/api/models", False, 405),
        ("GET", "/boom", False, 500),
    ],
)
def test_security_headers_on_every_response(
    boom_client: FlaskClient, method: str, url: str, conditional: bool, status: int
):
    headers = {"If-None-Match": etag_of(boom_client, url)} if conditional else {}
    response = boom_client.open(url, method=method, headers=headers)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_csp_allows_no_inline_script():
    script_src = re.search(r"script-src ([^;]*)", CONTENT_SECURITY_POLICY)
    assert script_src is not None and script_src.group(1) == "'self' 'wasm-unsafe-eval'"


@pytest.mark.parametrize(
    ("method", "url", "status", "error"),
    [
        ("POST", "/api/models", 405, "method not allowed"),
        ("DELETE", "/models/demo/manifest.json", 405, "method not allowed"),
        ("GET", "/boom", 500, "internal server error"),
    ],
)
def test_errors_are_json_without_details(
    boom_client: FlaskClient, tmp_path: Path, method: str, url: str, status: int, error: str
):
    response = boom_client.open(url, method=method)
    assert (response.status_code, response.get_json()) == (status, {"error": error})
    assert str(tmp_path) not in response.get_data(as_text=True)


def test_too_large_body_is_413_json(tmp_path: Path, exports_dir: Path):
    app = make_app({"EXPORTS_DIR": exports_dir, "MAX_CONTENT_LENGTH": 10})
    app.add_url_rule("/upload", view_func=lambda: str(len(request.get_data())), methods=["POST"])
    response = app.test_client().post("/upload", data=b"x" * 11)
    assert (response.status_code, response.get_json()) == (413, {"error": "request body too large"})


# --- /sw.js ------------------------------------------------------------------------------------------------


def models_line(response) -> dict:
    first, _, rest = response.get_data(as_text=True).partition("\n")
    assert first.startswith("self.__EDGESHIP_MODELS__ = ") and first.endswith(";")
    assert rest == STATIC_FILES["sw.js"].decode()
    return json.loads(first.removeprefix("self.__EDGESHIP_MODELS__ = ").removesuffix(";"))


def test_sw_js_lists_the_default_models_files(client: FlaskClient, exports_dir: Path):
    response = client.get("/sw.js")
    manifest = json.loads((exports_dir / "demo/manifest.json").read_text())
    files = {f["url"]: f["revision"] for f in models_line(response)["files"]}
    hashed = {f"/models/demo/{name}": None for name in hashed_names(manifest)}
    model_json = manifest["variants"]["tfjs-fp32"]["files"][0]["sha256"]
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert models_line(response)["default"] == "demo"
    assert files.items() >= {**hashed, "/models/demo/tfjs/fp32/model.json": model_json}.items()
    assert sorted(files) == sorted(
        [*hashed, "/models/demo/tfjs/fp32/model.json"]
        + [f"/models/demo/{n}" for n in ("manifest.json", "report.json", "eval.json")]
        + ["/models/demo/tflite/fp32.parity.json", "/models/demo/tfjs/fp32/parity.json"]
    )
    assert all(client.get(url).status_code == 200 for url in files)


def test_sw_js_changes_when_the_default_export_is_replaced(client: FlaskClient, exports_dir: Path):
    before = client.get("/sw.js")
    replace_export(exports_dir / "demo", created="2027-01-01T00:00:00+00:00")
    after = client.get("/sw.js", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.data != before.data
    assert models_line(after)["files"] != models_line(before)["files"]


def test_sw_js_is_503_until_built(client: FlaskClient, app: Flask):
    (Path(app.config["STATIC_DIR"]) / "sw.js").unlink()
    response = client.get("/sw.js")
    error = {"error": "the service worker is not built; run make setup"}
    assert (response.status_code, response.get_json()) == (503, error)


# --- `edgeship serve` --------------------------------------------------------------------------------------


def test_edgeship_serve_runs_waitress(exports_dir: Path):
    command = [EDGESHIP, "serve", str(exports_dir), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            ready, _, _ = select.select([server.stdout], [], [], 20)
            line = server.stdout.readline() if ready and server.stdout else ""
            folder = re.escape(str(exports_dir))
            served = (
                rf"Serving 2 export\(s\) from {folder} on (http://127\.0\.0\.1:\d+/) \(Ctrl\+C to stop\)\n"
            )
            match = re.fullmatch(served, line)
            assert match, line
            with urllib.request.urlopen(match.group(1) + "api/models", timeout=10) as response:
                assert response.headers["Server"] == "waitress"
                assert json.load(response)["default"] == "demo"
        finally:
            server.terminate()
            server.wait(10)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EDGESHIP, "serve", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nonexistent", "{dir} does not exist; give an export folder or a folder of export folders."),
        (
            "empty",
            "{dir} holds no export (no valid manifest.json in it or in its sub-folders); "
            "run `edgeship demo --out {dir}/demo` or `edgeship export MODEL --out DIR` first.",
        ),
    ],
)
def test_serve_refuses_a_folder_without_exports(tmp_path: Path, name: str, message: str):
    (tmp_path / "empty").mkdir()
    result = run_cli(str(tmp_path / name))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"ServeError: {message.format(dir=tmp_path / name)}\n"


def test_serve_refuses_a_port_in_use(exports_dir: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(str(exports_dir), "--port", str(port))
    reason = "Address already in use"
    expected = f"ServeError: cannot listen on 127.0.0.1:{port} ({reason}); choose another --port or --host.\n"
    assert (result.returncode, result.stderr) == (2, expected)
