"""The Python API, `import exporter`: what a notebook, the web app and the command line use.

A model object and arrays work as well as paths; importing it imports no TensorFlow; its errors name the
Python parameters (the command line names its flags instead: tests/test_cli_output.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from models import CLASSES, quadrant_data

import exporter
from webapp import finetune


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_importing_the_api_imports_no_tensorflow_and_nothing_of_the_app() -> None:
    loaded = _run_python(
        "import sys, exporter\n"
        "names = [getattr(exporter, name) for name in exporter.__all__]\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras', 'webapp', 'edgeship', 'flask')"
        " if m in sys.modules))"
    )
    assert loaded == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'exporter' has no attribute 'pipeline_internals'"):
        exporter.pipeline_internals  # noqa: B018


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    x, y = quadrant_data(256, seed=1)
    x_eval, y_eval = quadrant_data(100, seed=2)
    return {"x": x, "y": y, "x_eval": x_eval, "y_eval": y_eval}


def _trained(keras_module, data: dict[str, np.ndarray], name: str):
    keras_module.utils.set_random_seed(0)
    model = keras_module.Sequential(
        [
            keras_module.Input((8, 8, 1), name="pixels"),
            keras_module.layers.AveragePooling2D(4, name="quadrants"),
            keras_module.layers.Flatten(name="flatten"),
            keras_module.layers.Dense(CLASSES, activation="softmax", name="classes"),
        ],
        name=name,
    )
    model.compile(optimizer=keras_module.optimizers.Adam(5e-2), loss="sparse_categorical_crossentropy")
    model.fit(data["x"], data["y"], epochs=15, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def keras3_model(data):
    import keras

    return _trained(keras, data, "notebook_k3")


def test_a_keras3_model_object_and_arrays_export_like_files(tmp_path: Path, keras3_model, data) -> None:
    out = tmp_path / "dist" / "m"
    result = exporter.export(
        exporter.ExportOptions(
            model=keras3_model,
            out=str(out),  # a str path, as a notebook passes it
            variants=["tflite-fp32", "tflite-int8", "tfjs-fp32"],
            calibration=data["x"][:64],
            eval=(data["x_eval"], data["y_eval"]),
            quiet=True,
        )
    )

    assert result.out == out and result.exit_code == 0
    assert result.report == json.loads((out / "report.json").read_text())
    rows = {row["variant"]: row for row in result.report["rows"]}
    assert {variant: row["status"] for variant, row in rows.items()} == dict.fromkeys(
        ["tflite-fp32", "tflite-int8", "tfjs-fp32"], "ok"
    )
    assert rows["tflite-fp32"]["accuracy"] > 0.9  # scored on the eval arrays' labels
    assert result.report["reference"]["data"] == "eval"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == result.manifest
    assert manifest["name"] == "m" and manifest["input"]["shape"] == [None, 8, 8, 1]
    assert manifest["source"]["file"] is None and manifest["source"]["kind"] == "keras3"
    assert len(manifest["source"]["sha256"]) == 64
    weights = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in keras3_model.get_weights()))
    assert manifest["source"]["sha256"] == weights.hexdigest()  # the model's weights, not an empty hash
    assert "eval" in manifest  # the eval samples the app's self-test runs on
    # The caller's model is left as it was: still usable, same predictions.
    assert keras3_model.predict(data["x_eval"][:4], verbose=0).shape == (4, CLASSES)


def test_a_tf_keras_model_object_exports(tmp_path: Path, data) -> None:
    import tf_keras

    model = _trained(tf_keras, data, "notebook_tfk")
    result = exporter.export(
        exporter.ExportOptions(
            model=model,
            out=tmp_path / "m",
            variants=["tflite-dynamic-int8"],
            eval=(data["x_eval"], data["y_eval"]),
            quiet=True,
        )
    )
    assert [row.status for row in result.rows] == ["ok"]
    assert result.manifest["source"]["kind"] == "tf_keras"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"variants": ["tflite-fp64"]},
            "variants tflite-fp64 is not a variant; choose from " + ", ".join(exporter.VARIANTS),
        ),
        ({"targets": ["onnx"]}, "targets onnx is not a target; choose from tflite, tfjs"),
        ({"qat_epochs": 0}, "qat_epochs 0: give at least 1 epoch"),
    ],
)
def test_errors_name_the_python_parameter(tmp_path: Path, options: dict, message: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(exporter.DataError) as error:
        exporter.export(exporter.ExportOptions(model=tmp_path / "model.keras", out=out, **options))
    assert str(error.value) == message
    assert error.value.parameter == next(iter(options))
    assert not out.exists()


def test_an_output_path_that_is_a_file_names_out(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(exporter.OutputDirError) as error:
        exporter.export(exporter.ExportOptions(model=tmp_path / "model.keras", out=tmp_path / "taken"))
    assert str(error.value) == f"out {tmp_path / 'taken'} is a file, not a folder; choose a folder path"
    assert error.value.parameter == "out"
    assert error.value.message(lambda name: "--" + name) == (
        f"--out {tmp_path / 'taken'} is a file, not a folder; choose a folder path"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda x: {"eval": x}, "eval array: no labels; give eval=(x, y) with class indices y"),
        (
            lambda x: {"calibration": x[:, :4]},
            "calibration array: x has shape (256, 4, 8, 1) but the model takes inputs of shape (n, 8, 8, 1)",
        ),
        (
            lambda x: {"train": (x, np.full(len(x), 9))},
            "train array: labels range over 9..9 but the model has 4 classes (0..3)",
        ),
        (
            lambda x: {"calibration": np.array(["a", "b"])},
            "calibration array: x holds <U1 values; give a numeric numpy array",
        ),
    ],
)
def test_arrays_are_checked_like_data_files(tmp_path: Path, keras3_model, data, options, message) -> None:
    out = tmp_path / "out"
    with pytest.raises(exporter.DataError) as error:
        exporter.export(exporter.ExportOptions(model=keras3_model, out=out, quiet=True, **options(data["x"])))
    assert str(error.value) == message
    assert not out.exists()


def test_an_object_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(exporter.ModelLoadError) as error:
        exporter.export(exporter.ExportOptions(model={"layers": []}, out=tmp_path / "out"))
    assert str(error.value) == (
        "a dict is not a Keras model; give a keras.Model (Keras 3 or tf-keras), or the path of a .keras "
        "file, a .h5 file or a SavedModel folder"
    )


def test_fine_tune_variants_come_from_the_exporters_variants() -> None:
    assert finetune.VARIANTS == [
        "tflite-fp32", "tflite-dynamic-int8", "tflite-int8", "tfjs-fp32", "tfjs-fp16", "tfjs-int8",
    ]  # fmt: skip
    assert set(finetune.VARIANTS).issubset(exporter.VARIANTS)
    assert finetune.LEFT_OUT.issubset(exporter.VARIANTS)


def test_an_unknown_fine_tune_variant_is_a_typed_export_failure(tmp_path: Path, monkeypatch) -> None:
    """Before, the hard-coded id reached `VARIANTS[variant]`: a KeyError, an untyped 500."""
    monkeypatch.setattr(finetune, "VARIANTS", ["tflite-fp32", "tflite-retired"])
    upload = SimpleNamespace(name="ft", labels=["a", "b"])
    base = SimpleNamespace(id="base", preprocessing={"kind": "numeric", "size": 4})
    out = tmp_path / "exports" / "base-ft"
    with pytest.raises(finetune.ExportFailed) as failed:
        finetune._run_export(upload, base, tmp_path / "m.keras", tmp_path / "c.npz", out, tmp_path / "src")
    assert failed.value.code == 500 and failed.value.description == finetune.EXPORT_FAILED
    assert not out.exists() and not exporter.lock_file(out).exists()


def test_the_readme_example_runs_as_pasted(tmp_path: Path) -> None:
    """The "From Python" example, in a fresh interpreter that imports Keras 3 before the exporter."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [line.split()[:2] for line in result.stdout.splitlines()[-len(exporter.VARIANTS) :]]
    assert printed == [[variant, "ok"] for variant in exporter.VARIANTS]  # the example's own loop
    assert (
        json.loads((tmp_path / "dist" / "notebook" / "manifest.json").read_text())["source"]["kind"]
        == "keras3"
    )
