"""`make demo` trains, exports all 8 variants into a folder of exports, serves that folder and says where
(the README's first command); the fine-tune view's "Convert for mobile" works there out of the box.

The test runs the real target: only the folder (EXPORTS_DIR, so the demo lands in EXPORTS_DIR/demo as it
does by default) and the port are changed. The upload is what the browser's fine-tune view sends: the
demo's own tfjs-fp32 model, its weights nudged as training would, in the form @tensorflow/tfjs saves it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
from models import quadrant_data
from test_finetune import Parts, multipart, tfjs_saved_topology

REPO = Path(__file__).resolve().parents[1]
MULTIPART = "multipart/form-data; boundary=edgeship-test-boundary"
HEAD = "probabilities"  # the demo CNN's last layer (edgeship/demo.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_make_demo_serves_a_folder_of_exports_with_the_demo_in_it():
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo"], cwd=REPO, capture_output=True, text=True
    )
    lines = done.stdout.splitlines()
    assert ".venv/bin/edgeship demo --out dist/exports/demo" in lines
    assert lines[-1] == ".venv/bin/edgeship serve dist/exports --host 127.0.0.1 --port 8000"
    lan = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo", "LAN=1"], cwd=REPO, capture_output=True, text=True
    )
    assert lan.stdout.splitlines()[-1] == ".venv/bin/edgeship serve dist/exports --lan --port 8000"


def saved_topology(topology: dict) -> dict:
    """tfjs_saved_topology for the demo's Sequential model, whose layers carry their names in their config."""
    layers = topology["config"]["layers"]
    named = {
        **topology,
        "config": {
            **topology["config"],
            "layers": [{"name": layer["config"]["name"], **layer} for layer in layers],
        },
    }
    saved = tfjs_saved_topology(named, HEAD)
    for layer in saved["config"]["layers"]:
        del layer["name"]
    return saved


def demo_upload(base: Path, n: int = 40) -> Parts:
    """The demo's tfjs-fp32 model fine-tuned a little, as the browser uploads it."""
    from tfjs_node import read_tfjs_weights

    entry = json.loads((base / "manifest.json").read_text())["variants"]["tfjs-fp32"]["entry"]
    model_json = json.loads((base / entry).read_text())
    rng = np.random.default_rng(0)
    weights = []
    for name, read in read_tfjs_weights(base / entry).items():
        value = np.asarray(read, dtype=np.float32)
        weights.append((name, value + rng.normal(0.0, 1e-3, value.shape).astype(np.float32)))
    weights.sort(key=lambda item: not item[0].startswith(f"{HEAD}/"))  # tfjs saves the trainable head first
    samples, _ = quadrant_data(n, seed=3)
    model = {
        "format": "layers-model",
        "generatedBy": "TensorFlow.js tfjs-layers v4.22.0",
        "convertedBy": None,
        "modelTopology": saved_topology(model_json["modelTopology"]),
        "weightSpecs": [{"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights],
        "name": "demo, fine-tuned",
        "samples": {"shape": list(samples.shape)},
    }
    weight_data = b"".join(value.astype("<f4").tobytes() for _, value in weights)
    return Parts(model, weight_data, samples.astype("<f4").tobytes())


def test_make_demo_ends_with_the_server_running_and_convert_for_mobile_works(tmp_path):
    port = _free_port()
    exports = tmp_path / "exports"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"PORT={port}", f"EXPORTS_DIR={exports}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 600
        said = ""
        for line in process.stdout:
            if "Serving" in line:
                said = line.strip()
                break
            assert time.monotonic() < deadline
        assert said == f"Serving 1 export(s) from {exports} on http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=10) as response:
            models = json.load(response)
        assert models["default"] == "demo" and len(models["models"][0]["manifest"]["variants"]) == 8

        # Convert for mobile: the upload becomes a new export beside the demo (a single export folder: 409).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request(
            "POST", "/api/models/demo/finetuned", body=multipart(demo_upload(exports / "demo")),
            headers={"Content-Type": MULTIPART, "Origin": f"http://127.0.0.1:{port}"},
        )  # fmt: skip
        created = connection.getresponse()
        body = json.loads(created.read())
        assert created.status == 201, body
        ladder = [v for v, entry in body["manifest"]["variants"].items() if entry["target"] == "tflite"]
        assert ladder and (exports / body["id"] / "manifest.json").is_file()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=10) as response:
            assert [m["id"] for m in json.load(response)["models"]] == ["demo", body["id"]]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
