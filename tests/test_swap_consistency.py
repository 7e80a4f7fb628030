"""While `edgeship serve` serves a folder and new exports replace it, a reader never gets a mix of two
versions: each file it fetches for the manifest it holds is that manifest's file (sha256) or a 404."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from exporter.context import write_content_named
from exporter.outdir import staged_output


def _publish(out: Path, version: int) -> None:
    """One export version, written the way the exporter writes: staged, content-named, swapped in."""
    with staged_output(out) as staging:
        files = []
        for name, size in (("tflite/fp32", 3000), ("tfjs/fp32/group1-shard1of1", 5000)):
            data = hashlib.sha256(f"{name}{version}".encode()).digest() * (size // 32)
            suffix = ".tflite" if name.startswith("tflite") else ".bin"
            path = write_content_named(staging, name, suffix, data)
            files.append(
                {"path": path.as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            )
        model = json.dumps({"version": version, "shard": files[1]["path"]}).encode()
        path = write_content_named(staging, "tfjs/fp32/model", ".json", model)
        files.append(
            {"path": path.as_posix(), "bytes": len(model), "sha256": hashlib.sha256(model).hexdigest()}
        )
        manifest = {
            "format": "edgeship-export", "format_version": 1, "name": "m", "version": version,
            "input": {"name": "x", "shape": [None, 8, 8, 1], "dtype": "float32"},
            "output": {"name": "y", "shape": [None, 10], "dtype": "float32"},
            "variants": {"tfjs-fp32": {"target": "tfjs", "precision": "fp32", "entry": files[2]["path"], "files": files}},
        }  # fmt: skip
        (staging / "manifest.json").write_text(json.dumps(manifest))
        (staging / "report.json").write_text(json.dumps({"rows": []}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except urllib.error.URLError:  # not listening yet
        return 0, b""


def test_readers_never_see_a_mix_while_exports_are_replaced(tmp_path):
    exports = tmp_path / "exports"
    _publish(exports / "m", 0)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "edgeship", "serve", str(exports), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/models/m/"
    try:
        deadline = time.monotonic() + 30
        while _get(base + "manifest.json")[0] != 200:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

        stop = threading.Event()
        published = [0]

        def writer() -> None:
            while not stop.is_set() and published[0] < 200:
                published[0] += 1
                _publish(exports / "m", published[0])

        thread = threading.Thread(target=writer)
        thread.start()
        complete, stale, versions = 0, 0, set()
        end = time.monotonic() + 4
        while time.monotonic() < end:
            status, body = _get(base + "manifest.json")
            assert status == 200, "the manifest is always there: the swap is atomic"
            manifest = json.loads(body)
            got_all = True
            for file in manifest["variants"]["tfjs-fp32"]["files"]:
                status, data = _get(base + file["path"])
                if status == 404:  # a newer export replaced this one: the reader starts over
                    got_all = False
                    break
                assert status == 200 and hashlib.sha256(data).hexdigest() == file["sha256"], (
                    "a mix of versions"
                )
            complete += got_all
            stale += not got_all
            versions.add(manifest["version"])
        stop.set()
        thread.join(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert published[0] > 5 and len(versions) > 2, "the test must really race readers against replacements"
    assert complete > 0
    assert not [p for p in exports.iterdir() if ".staging-" in p.name]
