"""`edgeship build-site`: the static folder holds what the server would answer, with its headers beside it.

The e2e project `static-site` serves such a folder with nginx (configured only by the generated snippet) and
runs the parity and offline checks against it; these tests cover the folder's contents and the errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from server_fixtures import write_export, write_static

from webapp import create_app
from webapp.serve_error import ServeError
from webapp.site import build_site


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    write_export(tmp_path / "exports" / "demo")
    write_export(tmp_path / "exports" / "other", seed=b"other")
    return tmp_path / "exports"


@pytest.fixture
def site(tmp_path: Path, exports_dir: Path) -> Path:
    build_site(exports_dir, tmp_path / "site", static_dir=write_static(tmp_path / "static"))
    return tmp_path / "site"


def test_the_static_api_equals_the_servers(site, exports_dir, tmp_path):
    client = create_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": tmp_path / "static"}).test_client()
    assert json.loads((site / "api" / "models").read_text()) == client.get("/api/models").get_json()


def test_the_service_worker_is_the_servers_byte_for_byte(site, exports_dir, tmp_path):
    client = create_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": tmp_path / "static"}).test_client()
    assert (site / "sw.js").read_bytes() == client.get("/sw.js").data
    assert (site / "sw.js").read_text().startswith('self.__EDGESHIP_MODELS__ = {"default":"demo"')


def test_every_served_file_of_every_export_is_there_and_nothing_else(site, exports_dir):
    for export in ("demo", "other"):
        manifest = json.loads((exports_dir / export / "manifest.json").read_text())
        wanted = {"manifest.json", "report.json", manifest["eval"]}
        for variant in manifest["variants"].values():
            wanted |= {f["path"] for f in variant["files"]} | {variant["parity"]}
        copied = {
            p.relative_to(site / "models" / export).as_posix()
            for p in (site / "models" / export).rglob("*")
            if p.is_file()
        }
        assert copied == wanted
        for relative in wanted:
            assert (site / "models" / export / relative).read_bytes() == (
                exports_dir / export / relative
            ).read_bytes()


def test_the_app_shell_is_copied_without_build_stamps_or_the_raw_worker(site):
    assert (site / "index.html").is_file() and (site / "app" / "main.js").is_file()
    assert not (site / "vendor" / ".installed").exists()


def test_headers_for_static_hosts(site):
    headers = (site / "_headers").read_text()
    assert (
        "/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp"
        in headers
    )
    assert (
        "/app/worker/*\n" in headers
        and "script-src 'self' 'wasm-unsafe-eval' blob:;"
        in headers.split("/app/worker/*\n")[1].split("\n/")[0]
    )
    assert "/models/:id/tfjs/*\n" in headers and "immutable" in headers
    nginx = (site / "_nginx.conf").read_text()
    assert (
        nginx.count("location ") == 7
        and nginx.count('add_header Cross-Origin-Embedder-Policy "require-corp" always;') == 6
    )
    assert "application/wasm wasm;" in nginx


def test_no_export_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ServeError, match=r"holds no export \(no manifest.json\); run `edgeship export` first"
    ):
        build_site(tmp_path / "empty", tmp_path / "site", static_dir=write_static(tmp_path / "static"))
    assert not (tmp_path / "site").exists()


def test_an_unbuilt_app_is_one_clear_error(tmp_path, exports_dir):
    static = write_static(tmp_path / "static")
    (static / "sw.js").unlink()
    with pytest.raises(ServeError, match="the web app is not built"):
        build_site(exports_dir, tmp_path / "site", static_dir=static)


def test_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edgeship", "build-site", str(tmp_path / "none"), str(tmp_path / "site")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"ServeError: {tmp_path}/none holds no export (no manifest.json); run `edgeship export` first"
    )
