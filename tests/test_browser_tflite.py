"""Every TFLite variant's browser file (manifest `browser`): batch 1, float32 edges, int8 inside for int8/qat.

One tiny tf-keras model goes through the TFLite ladder once for the module; the files are then read back with
the real LiteRT interpreter, the manifest with webapp's own checks, and the served app with `edgeship serve`
(waitress) and `edgeship build-site`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import select
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from models import tf_keras_sequential, write_data
from server_fixtures import write_static

from exporter.config import VARIANTS, Target
from exporter.context import decode_array
from exporter.pipeline import ExportOptions, default_variant, export
from exporter.tflite_runtime import TfliteRunner, float_ops
from webapp import create_app
from webapp.exports import load
from webapp.manifest_shape import manifest_problem
from webapp.site import build_site

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
TFLITE = [variant for variant, spec in VARIANTS.items() if spec.target is Target.TFLITE]
INTEGER = ["tflite-int8", "tflite-qat"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    data = write_data(folder)
    options = ExportOptions(
        model=tf_keras_sequential(folder / "model.h5"),
        out=folder / "exports" / "tiny",
        calibration=data["calibration"],
        eval=data["eval"],
        train=data["train"],
        targets=["tflite"],
        qat_epochs=1,
        quiet=True,
    )
    assert export(options).exit_code == 0
    return folder / "exports" / "tiny"


def _manifest(exported: Path) -> dict:
    return json.loads((exported / "manifest.json").read_text())


def _run_one_at_a_time(flatbuffer: bytes, inputs: np.ndarray) -> np.ndarray:
    """Float inputs in, float outputs out (dequantized for int8 output), one sample per invocation."""
    runner = TfliteRunner(flatbuffer)
    return np.concatenate([runner.predict(inputs[i : i + 1]) for i in range(len(inputs))])


@pytest.mark.parametrize("variant", TFLITE)
def test_every_tflite_variant_has_a_browser_file_with_batch_1_and_float_io(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    browser = entry["browser"]
    assert browser["runtime"] == "litert.js"
    assert browser["entry"].startswith(f"tflite/{entry['precision']}.browser.")
    assert [f["path"] for f in browser["files"]] == [browser["entry"]]
    data = (exported / browser["entry"]).read_bytes()
    assert browser["files"][0]["bytes"] == browser["bytes"] == len(data)
    assert browser["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    # Read back from the file itself, not from what the manifest says.
    interpreter = Interpreter(model_content=data)
    (model_input,), (model_output,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert list(model_input["shape_signature"]) == browser["input_shape"] == [1, 8, 8, 1]
    assert (model_input["dtype"], model_output["dtype"]) == (np.float32, np.float32)
    assert (browser["input_dtype"], browser["output_dtype"]) == ("float32", "float32")
    # The deployable file is what it was: free batch, its own size in `bytes`, the browser file not in `files`.
    deployable = Interpreter(model_content=(exported / entry["entry"]).read_bytes())
    assert list(deployable.get_input_details()[0]["shape_signature"]) == [-1, 8, 8, 1]
    assert entry["bytes"] == (exported / entry["entry"]).stat().st_size
    assert [f["path"] for f in entry["files"]] == [entry["entry"]]


@pytest.mark.parametrize("variant", INTEGER)
def test_int8_browser_files_keep_int8_inside_with_float_edges(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    assert entry["input_dtype"] == entry["output_dtype"] == "int8"  # the deployable file: int8 I/O
    data = (exported / entry["browser"]["entry"]).read_bytes()
    assert float_ops(data) == []  # every op but the QUANTIZE / DEQUANTIZE at the edges runs in int8
    interpreter = Interpreter(model_content=data)
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    assert "CONV_2D" in ops
    tensors = interpreter.get_tensor_details()
    assert sum(t["dtype"] == np.int8 for t in tensors) > len(tensors) // 2


@pytest.mark.parametrize("variant", TFLITE)
def test_browser_outputs_equal_the_deployable_files(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    inputs = decode_array(json.loads((exported / entry["browser"]["parity"]).read_text())["inputs"])
    browser = _run_one_at_a_time((exported / entry["browser"]["entry"]).read_bytes(), inputs)
    deployable = _run_one_at_a_time((exported / entry["entry"]).read_bytes(), inputs)
    step = entry.get("output_quantization", {}).get("scale")
    assert np.max(np.abs(browser - deployable)) <= (step * 1.000001 if step else 1e-5)
    if step:  # int8: the same int8 model inside, so the same quantized outputs
        np.testing.assert_array_equal(np.round(browser / step), np.round(deployable / step))


@pytest.mark.parametrize("variant", TFLITE)
def test_the_browser_parity_fixture_reproduces_with_the_interpreter(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    parity = json.loads((exported / entry["browser"]["parity"]).read_text())
    inputs, outputs = decode_array(parity["inputs"]), decode_array(parity["outputs"])
    assert (inputs.dtype, outputs.dtype) == (np.float32, np.float32)
    assert len(inputs) == len(outputs) > 1 and inputs.shape[1:] == (8, 8, 1)
    browser = _run_one_at_a_time((exported / entry["browser"]["entry"]).read_bytes(), inputs)
    np.testing.assert_array_equal(browser, outputs)
    assert entry["browser"]["parity"].startswith(f"tflite/{entry['precision']}.browser.parity.")


MALFORMED = [
    (lambda b: b.update(runtime="tfjs"), "variants['tflite-int8'].browser.runtime must be 'litert.js'"),
    (lambda b: b.pop("parity"), "variants['tflite-int8'].browser.parity must be a string"),
    (
        lambda b: b.update(input_shape=[None, 8, 8, 1]),
        "variants['tflite-int8'].browser.input_shape must be a list of positive integers starting with 1 "
        "(batch 1)",
    ),
    (
        lambda b: b.update(input_shape=[2, 8, 8, 1]),
        "variants['tflite-int8'].browser.input_shape must be a list of positive integers starting with 1 "
        "(batch 1)",
    ),
    (lambda b: b.update(input_dtype="int8"), "variants['tflite-int8'].browser.input_dtype must be 'float32'"),
    (lambda b: b.update(files=[]), "variants['tflite-int8'].browser.entry must be one of its files"),
    (
        lambda b: b["files"][0].update(bytes=-1),
        "variants['tflite-int8'].browser.files[0].bytes must be a non-negative integer",
    ),
]


@pytest.mark.parametrize(("damage", "message"), MALFORMED)
def test_manifest_shape_refuses_a_malformed_browser_object(exported, damage, message):
    manifest = _manifest(exported)
    assert manifest_problem(manifest) is None
    broken = copy.deepcopy(manifest)
    damage(broken["variants"]["tflite-int8"]["browser"])
    assert manifest_problem(broken) == message
    broken["variants"]["tflite-int8"]["browser"] = "tflite/int8.browser.tflite"
    assert manifest_problem(broken) == "variants['tflite-int8'].browser must be an object"


def test_an_export_without_browser_objects_is_still_well_formed(exported):
    """Older exports have no `browser`: they stay served (the app says what to do for those variants)."""
    manifest = _manifest(exported)
    for entry in manifest["variants"].values():
        entry.pop("browser", None)
    assert manifest_problem(manifest) is None


def _browser_files(exported: Path) -> list[str]:
    variants = _manifest(exported)["variants"].values()
    return [path for entry in variants for path in (entry["browser"]["entry"], entry["browser"]["parity"])]


def test_edgeship_serve_serves_the_browser_files(exported):
    command = [EDGESHIP, "serve", str(exported.parent), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            ready, _, _ = select.select([server.stdout], [], [], 20)
            line = server.stdout.readline() if ready and server.stdout else ""
            match = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            assert match, line
            for relative in _browser_files(exported):
                url = f"{match.group(1)}models/tiny/{relative}"
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert response.read() == (exported / relative).read_bytes(), relative
        finally:
            server.terminate()
            server.wait(10)


def test_the_service_worker_precaches_the_browser_files(exported, tmp_path):
    app = create_app({"TESTING": True, "EXPORTS_DIR": exported.parent, "STATIC_DIR": write_static(tmp_path)})
    first = app.test_client().get("/sw.js").get_data(as_text=True).partition("\n")[0]
    models = json.loads(first.removeprefix("self.__EDGESHIP_MODELS__ = ").removesuffix(";"))
    precached = {f["url"] for f in models["files"]}
    assert {f"/models/tiny/{relative}" for relative in _browser_files(exported)} <= precached
    # The deployable files (free batch, int8 I/O) are for apps and boards: a phone never precaches them.
    deployable = [entry["entry"] for entry in _manifest(exported)["variants"].values() if "browser" in entry]
    assert len(deployable) == 5
    assert not {f"/models/tiny/{relative}" for relative in deployable} & precached


def test_build_site_copies_the_browser_files(exported, tmp_path):
    static = write_static(tmp_path / "static")
    build_site(exported.parent, tmp_path / "site", static_dir=static)
    for relative in _browser_files(exported):
        copied = tmp_path / "site" / "models" / "tiny" / relative
        assert copied.read_bytes() == (exported / relative).read_bytes(), relative
    assert load("tiny", exported) is not None


def test_a_plain_savedmodel_gets_batch_1_browser_files(tmp_path):
    """A SavedModel without Keras layers converts from its signature (free batch): its browser files are
    traced from that signature with a batch of 1."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(np.random.default_rng(0).random((64, 4), dtype=np.float32) - 0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="pixels")])
        def serve(self, x):
            return {"scores": tf.nn.softmax(tf.reshape(x, [-1, 64]) @ self.kernel)}

    model = Model()
    tf.saved_model.save(model, str(tmp_path / "saved"), signatures={"serving_default": model.serve})
    data = write_data(tmp_path)
    options = ExportOptions(model=tmp_path / "saved", out=tmp_path / "out", calibration=data["calibration"],
                            variants=["tflite-fp32", "tflite-int8"], targets=["tflite"], quiet=True)  # fmt: skip
    assert export(options).exit_code == 0
    for entry in _manifest(tmp_path / "out")["variants"].values():
        deployable = Interpreter(model_content=(tmp_path / "out" / entry["entry"]).read_bytes())
        assert list(deployable.get_input_details()[0]["shape_signature"]) == [-1, 8, 8, 1]
        browser = Interpreter(model_content=(tmp_path / "out" / entry["browser"]["entry"]).read_bytes())
        (model_input,), (model_output,) = browser.get_input_details(), browser.get_output_details()
        assert list(model_input["shape_signature"]) == entry["browser"]["input_shape"] == [1, 8, 8, 1]
        assert (model_input["dtype"], model_output["dtype"]) == (np.float32, np.float32)


def test_a_recurrent_models_browser_file_is_its_single_sample_file(tmp_path):
    """Recurrent layers convert for one sample at a time already: the float browser file has the same bytes."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10, 4)), keras.layers.LSTM(8), keras.layers.Dense(3)])
    model.save(tmp_path / "model.keras")
    options = ExportOptions(model=tmp_path / "model.keras", out=tmp_path / "out", variants=["tflite-fp32"],
                            targets=["tflite"], quiet=True)  # fmt: skip
    assert export(options).exit_code == 0
    entry = _manifest(tmp_path / "out")["variants"]["tflite-fp32"]
    assert entry["browser"]["files"][0]["sha256"] == entry["files"][0]["sha256"]
    assert entry["browser"]["input_shape"] == [1, 10, 4]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            {"tfjs-fp32": "tfjs", "tflite-fp32": "tflite+browser", "tflite-int8": "tflite+browser"},
            "tflite-fp32",
        ),
        (
            {"tfjs-fp32": "tfjs", "tflite-fp32": "tflite"},
            "tfjs-fp32",
        ),  # no browser file: LiteRT.js can't run it
        ({"tfjs-int8": "tfjs", "tfjs-fp32": "tfjs"}, "tfjs-fp32"),
        ({"tflite-int8": "tflite+browser"}, "tflite-int8"),
        ({}, None),
    ],
)
def test_the_web_app_starts_on_float32_on_litert_where_it_can(written, expected):
    variants = {
        variant: {"target": kind.split("+")[0], **({"browser": {}} if kind.endswith("+browser") else {})}
        for variant, kind in written.items()
    }
    assert default_variant(variants) == expected


def test_a_browser_file_that_disagrees_costs_only_the_web_apps_copy(tmp_path, monkeypatch):
    """The deployable file stays written and validated; the manifest and the row say why there is no browser
    file. (No converter makes a disagreeing file on demand: the check's bound is made impossible instead.)"""
    import exporter.targets.tflite as tflite_target

    monkeypatch.setattr(tflite_target, "BROWSER_FLOAT_TOLERANCE", -1.0)
    data = write_data(tmp_path)
    options = ExportOptions(
        model=tf_keras_sequential(tmp_path / "model.h5"),
        out=tmp_path / "out",
        eval=data["eval"],
        variants=["tflite-fp32"],
        quiet=True,
    )
    result = export(options)
    assert result.exit_code == 0
    entry = _manifest(tmp_path / "out")["variants"]["tflite-fp32"]
    assert "browser" not in entry
    assert entry["browser_skipped"].startswith(
        "tflite-fp32: the browser file (batch 1, float32 input and output) differs from the deployable file by "
    )
    assert entry["browser_skipped"].endswith("(allowed -1): the converter built them differently")
    assert manifest_problem(_manifest(tmp_path / "out")) is None
    assert not list((tmp_path / "out" / "tflite").glob("*.browser.*"))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (row,) = [row for row in report["rows"] if row["variant"] == "tflite-fp32"]
    assert row["status"] == "ok"
    assert any(
        note.startswith("no browser file, so the web app cannot run this variant: ") for note in row["notes"]
    )
