"""Every user error through the real CLI in a subprocess: one exact line, exit 2, no traceback, and the
previous export in --out untouched, with no staging folder left behind."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from models import tf_keras_sequential, write_data

EDGESHIP = [sys.executable, "-m", "edgeship"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """A real model, its data, and broken things made from them."""
    root = tmp_path_factory.mktemp("assets")
    write_data(root)
    good = tf_keras_sequential(root / "good.h5")
    import keras

    keras_model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    keras_model.save(root / "good.keras")
    (root / "empty.keras").write_bytes(b"")
    (root / "truncated.keras").write_bytes((root / "good.keras").read_bytes()[:300])
    (root / "truncated.h5").write_bytes(good.read_bytes()[:2000])
    (root / "random.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    (root / "random.h5").write_bytes(np.random.default_rng(1).bytes(4096))
    (root / "model.onnx").write_bytes(b"onnx")
    (root / "not_a_savedmodel").mkdir()
    (root / "not_a_savedmodel" / "weights.bin").write_bytes(b"x")
    lam = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Lambda(lambda t: t * 2, name="double")])
    lam.save(root / "lambda.keras")

    @keras.saving.register_keras_serializable(package="tests")
    class Scale(keras.layers.Layer):
        def call(self, t):
            return t * 3

    custom = keras.Sequential([keras.Input((8, 8, 1)), Scale(name="scale")])
    custom.save(root / "custom.keras")
    x = np.load(root / "cal.npz")["x"]
    np.savez(root / "wrong_shape.npz", x=x[:, :, :, 0])
    np.savez(root / "wrong_dtype.npz", x=(x * 255).astype(np.uint8))
    np.savez(root / "nan.npz", x=np.where(x > 0.9, np.nan, x))
    np.savez(root / "labels_out_of_range.npz", x=x, y=np.full(len(x), 7))
    np.savez(root / "no_labels.npz", x=x)
    (root / "a_file").write_text("not a folder")
    import tf_keras

    broken = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer((8, 8, 1)),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(4, name="head"),
        ]
    )
    kernel, bias = broken.get_weights()
    kernel[0, 0] = np.nan
    broken.set_weights([kernel, bias])
    broken.save(root / "nan_weights.h5")
    flex = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer((8, 8, 1)),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(4),
            tf_keras.layers.Activation("softsign", name="soft"),
        ]
    )
    flex.save(root / "softsign.h5")
    # TFLite has no int8 kernel for CONV_3D: the converter would keep it in float32 inside the int8 model.
    conv3d = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Reshape((4, 4, 4, 1)),
            keras.layers.Conv3D(2, 3, name="volume"),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    conv3d.save(root / "conv3d.keras")
    recurrent = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Reshape((8, 8)), keras.layers.LSTM(4), keras.layers.Dense(4)]
    )
    recurrent.save(root / "lstm.keras")
    np.savez(root / "cut.npz", x=x)
    with zipfile.ZipFile(root / "cut.npz") as archive:
        member = archive.read("x.npy")
    with zipfile.ZipFile(root / "cut.npz", "w") as archive:
        archive.writestr("x.npy", member[: len(member) // 2])  # the header still promises every sample
    return root


# (case, arguments with {A} for the assets folder, the exact stderr line)
CASES = [
    (
        "missing",
        ["{A}/nope.keras"],
        "ModelLoadError: no model at {A}/nope.keras; give a .keras file, a .h5 file or a SavedModel folder",
    ),
    (
        "empty",
        ["{A}/empty.keras"],
        "ModelLoadError: {A}/empty.keras is empty (0 bytes); export the model again",
    ),
    (
        "truncated-keras",
        ["{A}/truncated.keras"],
        "ModelLoadError: {A}/truncated.keras is not a readable .keras file (File is not a zip file); save the model again with model.save()",
    ),
    (
        "random-keras",
        ["{A}/random.keras"],
        "ModelLoadError: {A}/random.keras is not a readable .keras file (File is not a zip file); save the model again with model.save()",
    ),
    (
        "truncated-h5",
        ["{A}/truncated.h5"],
        "ModelLoadError: {A}/truncated.h5 is not a readable HDF5 file (Unable to synchronously open file (truncated file: eof = 2000, sblock->base_addr = 0, stored_eof = {EOF})); save it again",
    ),
    (
        "random-h5",
        ["{A}/random.h5"],
        "ModelLoadError: {A}/random.h5 is not a readable HDF5 file (Unable to synchronously open file (file signature not found)); save it again",
    ),
    (
        "unsupported-file",
        ["{A}/model.onnx"],
        "ModelLoadError: model.onnx is not a supported model file; give a .keras file, a .h5 file or a SavedModel folder",
    ),
    (
        "not-a-savedmodel",
        ["{A}/not_a_savedmodel"],
        "ModelLoadError: {A}/not_a_savedmodel is a folder but not a SavedModel (no saved_model.pb); give a SavedModel folder, a .keras file or a .h5 file",
    ),
    (
        "lambda",
        ["{A}/lambda.keras"],
        "UnsafeModelError: layer 'double' is a Lambda layer, which runs arbitrary Python code; edgeship loads models in safe mode. Replace it with built-in layers and save the model again.",
    ),
    (
        "custom-layer",
        ["{A}/custom.keras"],
        "UnsafeModelError: layer 'scale' uses the custom class 'Scale', which is not a built-in Keras layer; edgeship loads models in safe mode and runs no code from model files. Use built-in layers, or export the model as a SavedModel.",
    ),
    (
        "data-shape",
        ["{A}/good.h5", "--calibration", "{A}/wrong_shape.npz"],
        "DataError: --calibration {A}/wrong_shape.npz: x has shape (100, 8, 8) but the model takes inputs of shape (n, 8, 8, 1)",
    ),
    (
        "data-dtype",
        ["{A}/good.h5", "--calibration", "{A}/wrong_dtype.npz"],
        "DataError: --calibration {A}/wrong_dtype.npz: x has dtype uint8 but the model takes float32 inputs; convert and scale it as in training (for example x.astype('float32') / 255)",
    ),
    (
        "data-nan",
        ["{A}/good.h5", "--eval", "{A}/nan.npz"],
        "DataError: --eval {A}/nan.npz: x contains NaN or Inf values; clean the data first",
    ),
    (
        "labels-range",
        ["{A}/good.h5", "--eval", "{A}/labels_out_of_range.npz"],
        "DataError: --eval {A}/labels_out_of_range.npz: labels range over 7..7 but the model has 4 classes (0..3)",
    ),
    (
        "eval-without-labels",
        ["{A}/good.h5", "--eval", "{A}/no_labels.npz"],
        "DataError: --eval {A}/no_labels.npz: no array named y; --eval needs labels y beside the inputs x",
    ),
    (
        "data-missing",
        ["{A}/good.h5", "--train", "{A}/nope.npz"],
        "DataError: --train {A}/nope.npz: no such file; give an .npz with array x and y",
    ),
    (
        "variant-needs-data",
        ["{A}/good.h5", "--variants", "tflite-int8"],
        "DataError: tflite-int8 needs --calibration DATA.npz (array x) to calibrate activations; edgeship never calibrates on random data",
    ),
    (
        "int8-op-without-int8-kernel",
        ["{A}/conv3d.keras", "--variants", "tflite-int8", "--calibration", "{A}/cal.npz"],
        "ConversionError: tflite-int8: full-integer quantization cannot quantize the op(s) CONV_3D (they would run in float32 inside the int8 model); use the tflite-dynamic-int8 variant for this model",
    ),
    (
        "int8-recurrent-layers",
        # Alone, so that no variant is written (beside tflite-fp32 it fails alone: test_variant_isolation).
        ["{A}/lstm.keras", "--variants", "tflite-int8", "--calibration", "{A}/cal.npz"],
        "ConversionError: tflite-int8: full-integer quantization of recurrent layers (LSTM, GRU, RNN) crashes the TFLite converter; use the tflite-dynamic-int8 variant for this model",
    ),
    (
        "data-cut-short",
        ["{A}/good.h5", "--calibration", "{A}/cut.npz"],
        "DataError: {A}/cut.npz: x breaks off after 49 of 100 samples (the file is cut short); write the file again",
    ),
    (
        "variant-not-in-targets",
        ["{A}/good.h5", "--variants", "tfjs-fp32", "--targets", "tflite"],
        "DataError: --variants tfjs-fp32 is not in --targets tflite",
    ),
]


def run(args: list[str], file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def limit_file_size() -> None:
        # A real write failure from the kernel: past RLIMIT_FSIZE, write() fails with EFBIG, as a full disk
        # fails with ENOSPC (SIGXFSZ ignored so the process sees the error instead of dying).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [*EDGESHIP, "export", *args], capture_output=True, text=True, env=env, timeout=180,
        preexec_fn=limit_file_size if file_size_limit else None,
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    """Lines that are not edgeship's own progress lines."""
    return [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]


def _previous_export(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"format": "edgeship-export", "previous": true}')
    return out


def _assert_untouched(out: Path) -> None:
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert (out / "manifest.json").read_text() == '{"format": "edgeship-export", "previous": true}'
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]


@pytest.mark.parametrize(("case", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_2(assets, tmp_path, case, args, expected):
    out = _previous_export(tmp_path)
    result = run([a.replace("{A}", str(assets)) for a in args] + ["--out", str(out)])
    lines = error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, lines
    if "{EOF}" in expected:  # the HDF5 library names the true file size
        head, tail = expected.replace("{A}", str(assets)).split("{EOF}")
        assert lines[0].startswith(head) and lines[0].endswith(tail)
    else:
        assert lines[0] == expected.replace("{A}", str(assets))
    _assert_untouched(out)


def test_out_is_a_file(assets, tmp_path):
    result = run([str(assets / "good.h5"), "--out", str(assets / "a_file")])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out {assets}/a_file is a file, not a folder; choose a folder path"
    ]
    assert (assets / "a_file").read_text() == "not a folder"


def test_out_under_a_file_cannot_be_created(assets, tmp_path):
    result = run([str(assets / "good.h5"), "--out", str(assets / "a_file" / "export")])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out {assets}/a_file/export: {assets}/a_file is a file, so no folder can be made under it; choose another path"
    ]


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes to read-only folders; covered by the file and /sys cases"
)
def test_out_in_a_read_only_folder(assets, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = run([str(assets / "good.h5"), "--out", str(locked / "export")])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out {locked}/export: {locked} is not writable; choose a folder you can write to"
    ]


def test_out_where_even_root_cannot_write(assets, tmp_path):
    # sysfs refuses new folders to every user, root included (CI runs as root).
    out = _previous_export(tmp_path)
    result = run([str(assets / "good.h5"), "--out", "/sys/edgeship-test/export"])
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "OutputDirError: --out /sys/edgeship-test/export: cannot create /sys/edgeship-test "
        "(Operation not permitted); choose another path"
    ]
    _assert_untouched(out)


def test_argument_errors_exit_2_without_traceback(assets, tmp_path):
    result = run([str(assets / "good.h5"), "--out", str(tmp_path / "x"), "--variants", "tflite-int4"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown variant tflite-int4; choose from tflite-fp32" in result.stderr


def test_plain_savedmodel_gets_tflite_variants_and_a_clear_tfjs_skip(assets, tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")]
    )
    model.export(tmp_path / "saved")  # a SavedModel without Keras metadata
    out = tmp_path / "out"
    result = run([str(tmp_path / "saved"), "--out", str(out), "--eval", str(assets / "eval.npz")])
    assert result.returncode == 0, result.stderr
    skip = "skipped (the SavedModel has no Keras layers, which the TFJS layers format and QAT need)"
    for variant in ("tfjs-fp32", "tfjs-fp16", "tfjs-int8"):
        assert f"{variant}: {skip}" in result.stderr
    manifest = (out / "manifest.json").read_text()
    assert all(v in manifest for v in ('"tflite-fp32"', '"tflite-fp16"', '"tflite-dynamic-int8"'))
    assert "tfjs/" not in manifest
    shutil.rmtree(out)


def test_disk_full_during_the_write(assets, tmp_path):
    out = _previous_export(tmp_path)
    result = run([str(assets / "good.h5"), "--out", str(out)], file_size_limit=3_000)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out {out}: no space left to write the export (File too large); free space and export again"
    ]
    _assert_untouched(out)
