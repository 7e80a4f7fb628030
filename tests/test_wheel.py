"""`pip install edgeship` gives a working `edgeship demo` and `edgeship serve`: no checkout, no npm, no make.

A clean copy of the checkout (what git tracks, plus files not yet added) is built as a user or an index would:
the sdist with `python -m build --sdist` (build_backend/edgeship_backend.py builds the web app's runtimes and
service worker into it), then the wheel from that sdist with neither npm, node nor bash on PATH, as `python
-m build` and `pip install edgeship-X.tar.gz` do. The wheel goes into a fresh venv outside the checkout,
whose dependencies come from this test's own environment through a .pth file (installing TensorFlow again
would cost minutes and prove nothing about edgeship), while edgeship's own code and files come from the
wheel alone; from there `edgeship demo` exports and `edgeship serve` serves an app that Chromium opens,
predicts with, and predicts with again offline (tests/wheel_app.mjs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
PYTHON_ONLY = os.path.dirname(sys.executable)  # a PATH with no npm, node or bash (they live in /usr/bin)
# What the app cannot work without: the three runtimes, their WebAssembly binaries and the service worker.
VENDORED = [
    "tf.min.js",
    "tf-backend-wasm.min.js",
    "tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm",
    "litert/litert.js",
    "litert/wasm-utils.js",
    "litert/litert_wasm_threaded_internal.js",
    "litert/litert_wasm_threaded_internal.wasm",
    "litert/litert_wasm_internal.js",
    "litert/litert_wasm_internal.wasm",
    "litert/litert_wasm_compat_internal.js",
    "litert/litert_wasm_compat_internal.wasm",
]
MISSING_LINE = (
    "edgeship build: webapp/static/vendor/ and webapp/static/sw.js (the web app's runtimes and service worker) "
    "are missing, and node and npm are not on PATH to build them: install Node.js 20 or newer (with npm) and "
    "build again"
)


def _env(**changes: str) -> dict[str, str]:
    """This environment, less what would let the checkout leak into what is tested."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", **changes}


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", _env())
    return subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)


def _check(command: list[str], **kwargs: Any) -> str:
    result = _run(command, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and "node_modules" not in p.relative_to(root).parts
    }


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A clean copy of the checkout; node_modules is linked in (`npm ci` would take ~25 s and is tested by
    `make setup`), and webapp/static/vendor/ and sw.js, being git-ignored, are not there."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel test builds from one")
    listed = _check(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    copy = tmp_path_factory.mktemp("checkout") / "edgeship"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not part of it
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    assert not (copy / "webapp/static/sw.js").exists()
    if (ROOT / "node_modules").is_dir():
        (copy / "node_modules").symlink_to(ROOT / "node_modules")
    return copy


@pytest.fixture(scope="module")
def built(checkout, tmp_path_factory) -> dict[str, Any]:
    """The sdist (from the copy, with npm) and the wheel (from the unpacked sdist, without npm)."""
    before = _tree(checkout)
    dist = tmp_path_factory.mktemp("dist")
    _check([sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(checkout)])
    (sdist,) = dist.glob("edgeship-*.tar.gz")
    unpacked = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    (source,) = unpacked.iterdir()
    wheel_build = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        env=_env(PATH=PYTHON_ONLY),
    )
    assert wheel_build.returncode == 0, wheel_build.stdout[-3000:] + wheel_build.stderr[-3000:]
    assert "edgeship build:" not in wheel_build.stdout + wheel_build.stderr  # nothing rebuilt: nothing to run
    (wheel,) = dist.glob("edgeship-*.whl")
    return {"checkout": checkout, "before": before, "sdist": sdist, "source": source, "wheel": wheel}


def test_building_changes_no_source_file_and_writes_only_ignored_ones(built):
    checkout, before = built["checkout"], built["before"]
    after = _tree(checkout)
    assert {name: after.get(name) for name in before} == before
    written = sorted(set(after) - set(before))
    assert "webapp/static/sw.js" in written and "webapp/static/vendor/tf.min.js" in written
    ignored = _check(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT, input="\n".join(written))
    assert sorted(ignored.split()) == written  # git status stays clean in a checkout


def test_the_wheel_and_the_sdist_carry_the_runtimes_and_the_service_worker(built):
    wheel = zipfile.ZipFile(built["wheel"]).namelist()
    vendored = sorted(n.removeprefix("webapp/static/vendor/") for n in wheel if "static/vendor/" in n)
    assert set(VENDORED) <= set(vendored)
    assert len([n for n in vendored if n.endswith(".wasm")]) >= 5
    built_here = sorted(
        p.relative_to(built["checkout"] / "webapp/static/vendor").as_posix()
        for p in (built["checkout"] / "webapp/static/vendor").rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    assert vendored == built_here  # every file vendor.sh wrote, and only those
    assert "webapp/static/sw.js" in wheel
    # Build stamps and source maps are never shipped.
    assert [n for n in wheel if "/." in n or n.endswith(".map")] == []
    service_worker = zipfile.ZipFile(built["wheel"]).read("webapp/static/sw.js").decode()
    # All precached but LiteRT.js's compat build (browsers without relaxed SIMD), cached on first use.
    not_precached = [f for f in vendored if f'"url":"vendor/{f}"' not in service_worker]
    assert not_precached == [
        "litert/litert_wasm_compat_internal.js",
        "litert/litert_wasm_compat_internal.wasm",
    ]

    with tarfile.open(built["sdist"]) as tar:
        sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {f"webapp/static/vendor/{f}" for f in vendored} | {"webapp/static/sw.js"} <= sdist
    assert "webapp/static/vendor/.inputs.sha256" in sdist  # what lets a wheel be built from it without npm
    assert {"package-lock.json", "scripts/vendor.sh", "service_worker/sw.js", "workbox-config.cjs"} <= sdist


def test_without_npm_a_build_with_no_assets_fails_in_one_line(built, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(built["source"], source)
    shutil.rmtree(source / "webapp/static/vendor")
    (source / "webapp/static/sw.js").unlink()
    # No isolation: the backend stops before setuptools runs, so the env's own setuptools will do.
    result = _run(
        [sys.executable, "-m", "build", "--wheel", "-n", "-x", "--outdir", str(tmp_path), str(source)],
        env=_env(PATH=PYTHON_ONLY),
    )
    assert result.returncode != 0
    assert MISSING_LINE in (result.stdout + result.stderr).splitlines()
    assert "Traceback" not in result.stdout + result.stderr
    assert list(tmp_path.glob("*.whl")) == []


def test_without_npm_a_build_from_changed_sources_fails_in_one_line(built, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(built["source"], source)
    with (source / "webapp/static/index.html").open("a") as html:
        html.write("<!-- changed after the service worker was built -->\n")
    result = _run(
        [sys.executable, "-m", "build", "--wheel", "-n", "-x", "--outdir", str(tmp_path), str(source)],
        env=_env(PATH=PYTHON_ONLY),
    )
    assert result.returncode != 0
    assert (
        MISSING_LINE.replace("are missing", "are out of date with their sources")
        in (result.stdout + result.stderr).splitlines()
    )
    assert list(tmp_path.glob("*.whl")) == []


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory) -> Path:
    """A fresh venv outside the checkout with the wheel installed; dependencies through a .pth file."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    assert not venv.is_relative_to(ROOT)
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _check([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    # A plain path line: the .pth files there (this checkout's editable install among them) do not run.
    Path(purelib, "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _check([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
            str(built["wheel"])])  # fmt: skip
    return venv


def test_the_installed_wheel_exports_serves_and_predicts_in_chromium_offline_too(venv, tmp_path):
    work = tmp_path / "elsewhere"  # the user's own folder: no checkout in sight
    work.mkdir()
    where = _check(
        [str(venv / "bin/python"), "-c",
         "import edgeship, exporter, webapp; print(edgeship.__file__, exporter.__file__, webapp.__file__)"],
        cwd=work,
    )  # fmt: skip
    for module in where.split():
        assert Path(module).is_relative_to(venv), where

    edgeship = str(venv / "bin" / "edgeship")
    _check([edgeship, "demo", "--out", "demo"], cwd=work)
    server = subprocess.Popen(
        [edgeship, "serve", "demo", "--host", "127.0.0.1", "--port", "0"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        start_new_session=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        said = ""
        while not (url := re.search(r"on (http://127\.0\.0\.1:\d+/)", said)):
            line = server.stdout.readline()
            assert line, f"edgeship serve stopped:\n{said}"
            said += line
        browser = _run(["node", str(ROOT / "tests/wheel_app.mjs"), url.group(1)], cwd=ROOT)
        assert browser.returncode == 0, browser.stderr[-3000:]
        seen = json.loads(browser.stdout)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert seen["status"] == {
        "/sw.js": 200,
        "/vendor/tf.min.js": 200,
        "/vendor/tfjs-backend-wasm-simd.wasm": 200,
    }
    assert seen["controlled"] is True
    online = seen["online"]
    assert {variant: result.get("backend") for variant, result in online.items()} == {
        "tfjs-fp32": "wasm",
        "tflite-int8": "wasm",  # LiteRT.js's wasm build
    }, online
    for result in online.values():
        assert len(result["scores"]) == 10
        assert result["top1"] == max(range(10), key=result["scores"].__getitem__)
    # Both runtimes ran the exported model on the same drawing: the float and the int8 variant agree.
    assert online["tfjs-fp32"]["top1"] == online["tflite-int8"]["top1"]
    assert seen["offline"] == online  # from the service worker's precache, the same outputs
