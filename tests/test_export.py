"""`edgeship export` end to end on two small architectures, parametrised over every variant.

One model is Keras 3 (functional, `.keras`), the other tf-keras (Sequential, `.h5`). Each is exported once
per module; the tests then check what was written against independent readers: @tensorflow/tfjs in node
(the real consumer) for the weights, the LiteRT interpreter for the parity fixtures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from models import keras3_functional, tf_keras_sequential, write_data

from exporter.config import VARIANTS, Precision
from exporter.context import decode_array
from exporter.pipeline import ExportOptions, export

ARCHITECTURES = {
    "keras3-functional": (keras3_functional, "model.keras", 2),
    "tfkeras-h5": (tf_keras_sequential, "model.h5", 3),
}


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def exported(request, tmp_path_factory):
    build, filename, bn_count = ARCHITECTURES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    data = write_data(folder)
    model = build(folder / filename)
    options = ExportOptions(
        model=model,
        out=folder / "export",
        calibration=data["calibration"],
        eval=data["eval"],
        train=data["train"],
        shard_size=4096,  # several shards even for tiny models
        quiet=True,
    )
    result = export(options)
    return {"dir": folder / "export", "result": result, "model": model, "bn_count": bn_count, "data": data}


def _manifest(exported) -> dict:
    return json.loads((exported["dir"] / "manifest.json").read_text())


def _tfjs_files(exported, precision) -> tuple[Path, Path]:
    """(model.json, parity file) of a TFJS variant, as the manifest names them (content-hashed)."""
    entry = _manifest(exported)["variants"][f"tfjs-{precision}"]
    return exported["dir"] / entry["entry"], exported["dir"] / entry["parity"]


def _read_tfjs(exported, precision) -> tuple[dict, dict[str, np.ndarray]]:
    """A TFJS variant's model.json and its weights by name, as @tensorflow/tfjs loads them (in node)."""
    from tfjs_node import read_tfjs_weights

    model_path = _tfjs_files(exported, precision)[0]
    return json.loads(model_path.read_text()), read_tfjs_weights(model_path)


def _report_rows(exported) -> dict:
    return {row["variant"]: row for row in json.loads((exported["dir"] / "report.json").read_text())["rows"]}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_is_written_with_true_sizes_and_hashes(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    assert (exported["dir"] / entry["entry"]).is_file()
    for file in entry["files"]:
        data = (exported["dir"] / file["path"]).read_bytes()
        assert len(data) == file["bytes"] and hashlib.sha256(data).hexdigest() == file["sha256"]
    assert entry["bytes"] == sum(f["bytes"] for f in entry["files"])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_is_validated_within_its_tolerance(exported, variant):
    row, tolerance = _report_rows(exported)[variant], VARIANTS[variant].tolerance
    assert row["status"] == "ok", row["reason"]
    assert row["agreement"] >= tolerance.min_agreement
    if tolerance.max_abs_diff is not None:
        assert row["max_abs_diff"] <= tolerance.max_abs_diff
    assert row["accuracy"] is not None and row["accuracy"] > 0.9  # the tiny models really learned the task


def test_exit_code_and_table_rows(exported):
    assert exported["result"].exit_code == 0
    assert [row.variant for row in exported["result"].rows] == list(VARIANTS)


def test_batch_norm_is_folded_and_outputs_are_unchanged(exported):
    assert _manifest(exported)["folded_batchnorm"] == exported["bn_count"]
    assert (
        json.loads((exported["dir"] / "report.json").read_text())["folded_batchnorm"] == exported["bn_count"]
    )
    topology = json.loads(_tfjs_files(exported, "fp32")[0].read_text())["modelTopology"]
    assert "BatchNormalization" not in json.dumps(topology)
    # tflite-fp32 is built from the folded model and compared with the original, unfolded one.
    assert _report_rows(exported)["tflite-fp32"]["max_abs_diff"] <= 1e-5


def _original_weights(exported) -> dict[str, np.ndarray]:
    """The folded float weights, recomputed here from the model file: what every TFJS variant encodes."""
    from exporter.folding import fold_batchnorm
    from exporter.keras_compat import to_tf_keras
    from exporter.loading import load_model
    from exporter.tfjs_topology import tfjs_weight_entries

    folded, _ = fold_batchnorm(to_tf_keras(load_model(exported["model"]).keras_model))
    return dict(tfjs_weight_entries(folded))


@pytest.mark.parametrize("precision", [Precision.FP32, Precision.FP16, Precision.INT8])
def test_tfjs_weights_read_back_by_tfjs(exported, precision):
    from exporter.quantize import quantize_symmetric

    _, read = _read_tfjs(exported, precision)
    original = _original_weights(exported)
    assert read.keys() == original.keys()
    for name, weights in original.items():
        if precision is Precision.FP32 or (precision is Precision.INT8 and weights.ndim < 2):
            expected = weights.astype(np.float32)
        elif precision is Precision.FP16:
            expected = weights.astype(np.float16).astype(np.float32)
        else:
            expected = quantize_symmetric(weights).dequantize()
            assert np.max(np.abs(expected - weights)) <= np.max(np.abs(weights)) / 254 + 1e-7
        np.testing.assert_array_equal(read[name], expected, err_msg=name)  # bit-exact


@pytest.mark.parametrize("precision", [Precision.FP32, Precision.FP16, Precision.INT8])
def test_tfjs_parity_fixture_is_tflite_on_the_decoded_weights(exported, precision):
    import tensorflow as tf
    import tf_keras

    from exporter.tflite_runtime import TfliteRunner

    model_json, weights = _read_tfjs(exported, precision)
    parity_path = _tfjs_files(exported, precision)[1]
    model = tf_keras.models.model_from_json(json.dumps(model_json["modelTopology"]))
    model.set_weights(
        [
            weights[f"{layer.name}/{w.name.split('/')[-1].split(':')[0]}"]
            for layer in model.layers
            for w in layer.weights
        ]
    )
    runner = TfliteRunner(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    parity = json.loads(parity_path.read_text())
    np.testing.assert_array_equal(
        runner.predict(decode_array(parity["inputs"])), decode_array(parity["outputs"])
    )


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("tflite-")])
def test_tflite_parity_fixture_is_the_interpreter_on_this_file(exported, variant):
    from exporter.tflite_runtime import TfliteRunner

    entry = _manifest(exported)["variants"][variant]
    runner = TfliteRunner((exported["dir"] / entry["entry"]).read_bytes())
    parity = json.loads((exported["dir"] / entry["parity"]).read_text())
    raw_inputs = decode_array(parity["inputs"])
    assert raw_inputs.dtype.name == entry["input_dtype"]
    np.testing.assert_array_equal(runner.run_raw(raw_inputs), decode_array(parity["outputs"]))


@pytest.mark.parametrize("variant", ["tflite-int8", "tflite-qat"])
def test_full_integer_variants_have_int8_input_and_output(exported, variant):
    entry = _manifest(exported)["variants"][variant]
    assert entry["input_dtype"] == entry["output_dtype"] == "int8"
    assert set(entry["input_quantization"]) == {"scale", "zero_point"}
    assert set(entry["output_quantization"]) == {"scale", "zero_point"}


def test_shards_are_content_hashed_and_within_the_shard_size(exported):
    for precision in ("fp32", "fp16", "int8"):
        for shard in (exported["dir"] / "tfjs" / precision).glob("*.bin"):
            assert shard.stat().st_size <= 4096
            assert shard.name.split(".")[-2] == hashlib.sha256(shard.read_bytes()).hexdigest()[:16]


def test_manifest_describes_input_output_and_preprocessing(exported):
    manifest = _manifest(exported)
    assert manifest["format"] == "edgeship-export" and manifest["input"]["shape"] == [None, 8, 8, 1]
    assert manifest["output"]["shape"] == [None, 4] and manifest["default_variant"] == "tflite-fp32"
    assert manifest["preprocessing"] == {
        "kind": "image",
        "height": 8,
        "width": 8,
        "channels": 1,
        "range": [0.0, 1.0],
        "mean": None,
        "std": None,
        "color": "gray",
        "resize": "stretch",
        "ink": "high",
        "source": "data",
    }
    assert (
        manifest["skipped"] == {}
        and manifest["eval"].startswith("eval.")
        and (exported["dir"] / manifest["eval"]).is_file()
    )
    assert not list(exported["dir"].parent.glob(".export.staging-*"))  # nothing left behind


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tfjs_variant_loads_and_matches_its_parity_fixture_in_tfjs(exported, precision, tmp_path):
    """The real @tensorflow/tfjs 4.22 (node, cpu backend) loads the exported model.json and its shards."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    model_path, parity_path = _tfjs_files(exported, precision)
    parity = json.loads(parity_path.read_text())
    inputs = decode_array(parity["inputs"])
    (tmp_path / "x.bin").write_bytes(inputs.astype("<f4").tobytes())
    (tmp_path / "inputs.json").write_text(json.dumps([{"shape": list(inputs.shape), "file": "x.bin"}]))
    result = subprocess.run(
        ["node", str(repo / "tests" / "tfjs_predict.mjs"), str(model_path), str(tmp_path / "inputs.json")],
        capture_output=True, text=True, cwd=repo, timeout=120, check=True,
    )  # fmt: skip
    (output,) = json.loads(result.stdout)
    browser = np.array(output["data"], dtype=np.float32).reshape(output["shape"])
    reference = decode_array(parity["outputs"])
    assert np.max(np.abs(browser - reference)) <= 1e-4
    np.testing.assert_array_equal(np.argmax(browser, 1), np.argmax(reference, 1))


def test_every_file_but_manifest_and_report_is_named_by_its_content(exported):
    """A reader holding one version's manifest can then only fetch that version's files, never a mix."""
    for path in exported["dir"].rglob("*"):
        if path.is_file() and path.name not in ("manifest.json", "report.json"):
            digest = path.name.rsplit(".", 2)[-2]
            assert digest == hashlib.sha256(path.read_bytes()).hexdigest()[:16], path


def test_unfolded_batch_norm_keeps_its_statistics_in_every_tfjs_variant(tmp_path):
    """--no-fold-bn: BN layers stay in the TFJS topology with their statistics, and outputs are unchanged."""
    data = write_data(tmp_path)
    model = tf_keras_sequential(tmp_path / "model.h5")
    options = ExportOptions(model=model, out=tmp_path / "out", eval=data["eval"], fold_bn=False, quiet=True,
                            variants=["tfjs-fp32", "tfjs-int8"], targets=["tfjs"])  # fmt: skip
    rows = {row.variant: row for row in export(options).rows}
    assert rows["tfjs-fp32"].max_abs_diff <= 1e-5
    assert rows["tfjs-int8"].status == "ok"
    topology = json.loads(_tfjs_files({"dir": tmp_path / "out"}, "fp32")[0].read_text())["modelTopology"]
    assert json.dumps(topology).count('"BatchNormalization"') == 3
