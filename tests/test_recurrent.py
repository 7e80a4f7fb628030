"""Recurrent models: the TFLite converter cannot lower their TensorList ops with a free batch dimension, so
their TFLite variants are converted for one sample at a time; TFJS keeps the free batch. Full int8 is
refused with a message (tests/test_cli_errors.py): with a fixed batch the converter crashes on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from exporter.context import decode_array
from exporter.errors import UnsupportedModelError
from exporter.pipeline import ExportOptions, export

STEPS, FEATURES, CLASSES = 10, 4, 3
VARIANTS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tfjs-fp32", "tfjs-int8"]


@pytest.fixture(scope="module", params=["LSTM", "GRU", "SimpleRNN"])
def exported(request, tmp_path_factory) -> Path:
    import keras

    folder = tmp_path_factory.mktemp(request.param)
    keras.utils.set_random_seed(0)
    # TFJS implements the GRU of the original paper only (reset_after=False; see the test at the end).
    options = {"reset_after": False} if request.param == "GRU" else {}
    recurrent = getattr(keras.layers, request.param)(8, **options)
    model = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), recurrent, keras.layers.Dense(CLASSES, activation="softmax")]
    )
    model.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "eval.npz", x=rng.random((40, STEPS, FEATURES), dtype=np.float32), y=np.arange(40) % 3)
    options = ExportOptions(
        model=folder / "model.keras",
        out=folder / "out",
        eval=folder / "eval.npz",
        variants=VARIANTS,
        quiet=True,
    )
    rows = {row.variant: row for row in export(options).rows}
    assert {variant: rows[variant].status for variant in VARIANTS} == dict.fromkeys(VARIANTS, "ok")
    return folder / "out"


def _variant(out: Path, variant: str) -> dict:
    return json.loads((out / "manifest.json").read_text())["variants"][variant]


@pytest.mark.parametrize("variant", ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8"])
def test_tflite_variants_run_one_sample_at_a_time_and_match_their_fixture(exported, variant):
    spec = _variant(exported, variant)
    interpreter = Interpreter(model_path=str(exported / spec["entry"]))
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    assert list(detail["shape"]) == [1, STEPS, FEATURES]
    fixture = json.loads((exported / spec["parity"]).read_text())
    inputs, expected = decode_array(fixture["inputs"]), decode_array(fixture["outputs"])
    for sample, want in zip(inputs, expected, strict=True):
        interpreter.set_tensor(detail["index"], sample[None])
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got[0], want)


def test_tfjs_keeps_a_free_batch_and_matches_its_tflite_reference_in_tfjs(exported, tmp_path):
    spec = _variant(exported, "tfjs-fp32")
    fixture = json.loads((exported / spec["parity"]).read_text())
    inputs = decode_array(fixture["inputs"])
    (tmp_path / "x.bin").write_bytes(inputs.astype("<f4").tobytes())
    (tmp_path / "inputs.json").write_text(json.dumps([{"shape": list(inputs.shape), "file": "x.bin"}]))
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        ["node", str(repo / "tests" / "tfjs_predict.mjs"), str(exported / spec["entry"]), str(tmp_path / "inputs.json")],
        capture_output=True, text=True, cwd=repo, timeout=120, check=True,
    )  # fmt: skip
    (output,) = json.loads(result.stdout)
    assert output["shape"] == [len(inputs), CLASSES]  # the whole batch at once
    browser = np.array(output["data"], dtype=np.float32).reshape(output["shape"])
    assert np.max(np.abs(browser - decode_array(fixture["outputs"]))) <= 1e-5


def test_a_gru_tfjs_cannot_load_is_refused_by_name(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.GRU(8, name="memory")])
    model.save(tmp_path / "gru.keras")
    options = ExportOptions(
        model=tmp_path / "gru.keras", out=tmp_path / "out", variants=["tfjs-fp32"], quiet=True
    )
    with pytest.raises(UnsupportedModelError) as error:
        export(options)
    assert str(error.value) == (
        "no TFJS layers model: GRU (memory); it sets reset_after=True (the Keras default), which TFJS "
        "does not implement; build the GRU with reset_after=False, or use the TFLite variants."
    )
    assert not (tmp_path / "out").exists()
