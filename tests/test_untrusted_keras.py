"""Hostile .keras and .h5 files through the real CLI in a subprocess: code hidden anywhere in a config is
refused by name before anything is deserialised (a marker file proves nothing ran), malformed or oversized
configs get one line and exit 2 with bounded memory, and a Keras 3 .h5 loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from peak_rss import run_with_peak

from exporter.errors import UnsafeModelError
from exporter.limits import MAX_JSON_DEPTH
from exporter.safe_mode import scan_config

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1", "KERAS_BACKEND": "tensorflow"}
REFUSED_CODE = (
    "; edgeship loads models in safe mode. Replace it with built-in layers and save the model again."
)
REFUSED_CUSTOM = (
    "; edgeship loads models in safe mode and runs no code from model files. Use built-in layers, or export "
    "the model as a SavedModel."
)


def export(model: Path, out: Path, **env: str) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS of the edgeship process in MiB); `env` adds to the environment."""
    args = ["export", str(model), "--out", str(out), "--targets", "tflite", "--variants", "tflite-fp32"]
    result, peak = run_with_peak(args, out.parent / "peak-kib", {**ENV, **env})
    return result.returncode, result.stderr, peak // 2**20


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]


def assert_one_line(model: Path, tmp_path: Path, expected: str, **env: str) -> int:
    """Exit 2, no traceback, exactly `expected` on stderr; returns the peak RSS in MiB."""
    code, stderr, peak = export(model, tmp_path / "out", **env)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert error_lines(stderr) == [expected]
    assert not (tmp_path / "out").exists()
    return peak


# --- hostile files, written for real ------------------------------------------------------------------------


def marker_function(marker: Path) -> Any:
    """A function that leaves `marker` behind when called and otherwise passes its input through."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').write('code from the model file ran'), x)[1]")


def tf_keras_dense(path: Path) -> Path:
    import tf_keras

    model = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer((8, 8, 1)),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(4, name="head"),
        ]
    )
    model.save(path)
    return path


def keras3_dense(path: Path) -> Path:
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4, name="head")]
    )
    model.save(path)
    return path


def rewrite_h5_config(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config)
        h5.attrs["model_config"] = json.dumps(config)
    return target


def replace_member(source: Path, target: Path, name: str, data: bytes) -> Path:
    """A copy of the .keras file `source` whose member `name` holds `data`."""
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name] = data
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return target


def rewrite_keras_member(source: Path, target: Path, name: str, edit: Callable[[Any], Any]) -> Path:
    with zipfile.ZipFile(source) as archive:
        text = archive.read(name)
    return replace_member(source, target, name, json.dumps(edit(json.loads(text))).encode())


def set_head_activation(value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(config: dict[str, Any]) -> dict[str, Any]:
        head = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "head")
        head["config"]["activation"] = value
        return config

    return edit


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("marker") / "code-ran"


@pytest.fixture(scope="module")
def assets(tmp_path_factory, marker) -> Path:
    import keras
    import tf_keras
    from tf_keras.src.saving import serialization_lib as tf_keras_serialization

    root = tmp_path_factory.mktemp("hostile")
    tfk_h5, k3_h5 = tf_keras_dense(root / "tfk.h5"), keras3_dense(root / "k3.h5")
    tfk_keras, k3_keras = tf_keras_dense(root / "tfk.keras"), keras3_dense(root / "k3.keras")
    # tf-keras' legacy deserialiser turns any config value marked as passively serialised into the object it
    # names, with the layer classes in scope: here a Lambda that unmarshals the marker function.
    passive = {
        "class_name": "Lambda",
        "config": tf_keras.layers.Lambda(marker_function(marker), name="pwn").get_config(),
        "__passive_serialization__": True,
    }
    rewrite_h5_config(tfk_h5, root / "tfk_passive_lambda.h5", set_head_activation(passive))
    rewrite_h5_config(k3_h5, root / "k3_passive_lambda.h5", set_head_activation(passive))
    custom_regularizer = {"class_name": "evil>Regulariser", "config": {}}

    def add_regulariser(config: dict[str, Any]) -> None:
        config["config"]["layers"][-1]["config"]["kernel_regularizer"] = custom_regularizer

    rewrite_h5_config(tfk_h5, root / "tfk_custom_regulariser.h5", add_regulariser)
    k3_lambda = keras.saving.serialize_keras_object(keras.layers.Lambda(marker_function(marker), name="pwn"))
    rewrite_keras_member(
        k3_keras, root / "k3_nested_lambda.keras", "config.json", set_head_activation(k3_lambda)
    )
    system = {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}
    rewrite_keras_member(
        k3_keras, root / "k3_foreign_module.keras", "config.json", set_head_activation(system)
    )
    tfk_lambda = tf_keras_serialization.serialize_keras_object(
        tf_keras.layers.Lambda(marker_function(marker), name="pwn")
    )
    rewrite_keras_member(
        tfk_keras, root / "tfk_nested_lambda.keras", "config.json", set_head_activation(tfk_lambda)
    )
    popen = {
        "module": "subprocess",
        "class_name": "Popen",
        "config": {"args": "true"},
        "registered_name": None,
    }
    rewrite_keras_member(
        tfk_keras, root / "tfk_foreign_class.keras", "config.json", set_head_activation(popen)
    )
    return root


# --- 1. code hidden in nested config values -----------------------------------------------------------------


def test_the_passive_lambda_h5_really_runs_code_in_tf_keras(assets, marker):
    # Proof that the attack file is real: tf-keras' own loader runs the marshalled function.
    load = "import sys, tf_keras; tf_keras.models.load_model(sys.argv[1], compile=False)"
    subprocess.run([sys.executable, "-c", load, str(assets / "tfk_passive_lambda.h5")], env=ENV, timeout=180)
    assert marker.exists()
    marker.unlink()


NESTED_CASES = [
    (
        "tfk_passive_lambda.h5",
        "UnsafeModelError: layer 'head' holds a Lambda object at 'activation', which runs arbitrary Python code"
        + REFUSED_CODE,
    ),
    (
        "k3_passive_lambda.h5",
        "UnsafeModelError: layer 'head' holds a Lambda object at 'activation', which runs arbitrary Python code"
        + REFUSED_CODE,
    ),
    (
        "tfk_custom_regulariser.h5",
        "UnsafeModelError: layer 'head' holds the custom object 'evil>Regulariser' at 'kernel_regularizer', "
        "which is not a built-in Keras object" + REFUSED_CUSTOM,
    ),
    (
        "k3_nested_lambda.keras",
        "UnsafeModelError: layer 'head' holds a Lambda object at 'activation', which runs arbitrary Python code"
        + REFUSED_CODE,
    ),
    (
        "k3_foreign_module.keras",
        "UnsafeModelError: layer 'head' holds the custom object 'os.system' at 'activation', which is not a "
        "built-in Keras object" + REFUSED_CUSTOM,
    ),
    (
        "tfk_nested_lambda.keras",
        "UnsafeModelError: layer 'head' holds a Lambda object at 'activation', which runs arbitrary Python code"
        + REFUSED_CODE,
    ),
    (
        "tfk_foreign_class.keras",
        "UnsafeModelError: layer 'head' holds the custom object 'subprocess.Popen' at 'activation', which is "
        "not a built-in Keras object" + REFUSED_CUSTOM,
    ),
]


@pytest.mark.parametrize(("name", "expected"), NESTED_CASES, ids=[c[0] for c in NESTED_CASES])
def test_code_nested_in_a_config_value_is_refused_by_name(assets, marker, tmp_path, name, expected):
    assert_one_line(assets / name, tmp_path, expected)
    assert not marker.exists()


def _keras3_models() -> list[Any]:
    import keras
    from keras import layers

    small = {"weights": None, "input_shape": (32, 32, 3), "classes": 10}
    inputs = keras.Input((8, 8, 1))
    x = layers.Reshape((8, 8))(inputs)
    x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
    x = layers.GRU(4, return_sequences=True)(x)
    x = layers.TimeDistributed(layers.Dense(2, kernel_regularizer="l2"))(x)
    x = layers.Dropout(0.1)(layers.LayerNormalization()(x))
    x = layers.Dense(4, activation=keras.activations.gelu, kernel_constraint=keras.constraints.MaxNorm(2))(
        layers.Flatten()(x)
    )
    recurrent = keras.Model(inputs, keras.ops.mean(x + 1.0, axis=-1, keepdims=True))
    recurrent.compile(optimizer="adam", loss="mse", metrics=["mae"])
    quantized = keras.Sequential([keras.Input((4,)), layers.Dense(4, dtype="mixed_bfloat16")])
    quantized.quantize("int8")  # quantizer and quantization-config objects inside each layer
    return [
        quantized,
        keras.applications.MobileNetV2(**small),
        keras.applications.EfficientNetB0(**small),
        keras.applications.ResNet50V2(**small),
        recurrent,
    ]


def _tf_keras_models() -> list[Any]:
    import tf_keras
    from tf_keras import layers

    small = {"weights": None, "input_shape": (32, 32, 3), "classes": 10}
    recurrent = tf_keras.Sequential(
        [
            layers.InputLayer((8, 8)),
            layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(2, kernel_regularizer="l2")),
            layers.Flatten(),
            layers.Dense(4, activation=tf_keras.activations.gelu),
        ]
    )
    return [
        tf_keras.applications.MobileNetV2(**small),
        tf_keras.applications.EfficientNetB0(**small),
        tf_keras.applications.ResNet50V2(**small),
        recurrent,
    ]


def test_real_architectures_pass_the_scan():
    import keras
    from tf_keras.src.saving import serialization_lib as tf_keras_serialization

    for model in _keras3_models():
        scan_config(keras.saving.serialize_keras_object(model), "keras3")  # as in a .keras config.json
        scan_config(json.loads(model.to_json()), "keras3")
    for model in _tf_keras_models():
        scan_config(json.loads(model.to_json()), "tf_keras")  # as in a .h5 model_config
        scan_config(tf_keras_serialization.serialize_keras_object(model), "tf_keras")  # as in a .keras


def _dense_entry(**config: Any) -> dict[str, Any]:
    return {"class_name": "Dense", "config": {"name": "head", "units": 4, **config}}


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_scan_refuses_bytecode_under_a_function_key_anywhere(flavour):
    model = {
        "class_name": "Sequential",
        "config": {"name": "m", "layers": [_dense_entry(function=["4wEA", None, None])]},
    }
    with pytest.raises(UnsafeModelError) as info:
        scan_config(model, flavour)  # type: ignore[arg-type]
    assert str(info.value) == (
        "layer 'head' holds a serialised Python function at 'function', which runs arbitrary Python code"
        + REFUSED_CODE
    )


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_scan_refuses_an_object_whose_class_name_is_not_a_string(flavour):
    model = {"class_name": "Sequential", "config": {"layers": [_dense_entry(activation={"class_name": [1]})]}}
    with pytest.raises(UnsafeModelError) as info:
        scan_config(model, flavour)  # type: ignore[arg-type]
    assert str(info.value) == (
        "layer 'head' holds the custom object '[1]' at 'activation', which is not a built-in Keras object"
        + REFUSED_CUSTOM
    )


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_scan_walks_any_depth_without_recursion(flavour):
    deep: Any = {"class_name": "Lambda", "config": {}}
    for _ in range(100_000):
        deep = [deep]
    model = {"class_name": "Sequential", "config": {"name": "m", "layers": [_dense_entry(extra=deep)]}}
    with pytest.raises(UnsafeModelError) as info:
        scan_config(model, flavour)  # type: ignore[arg-type]
    assert str(info.value).startswith("layer 'head' holds a Lambda object at 'extra[0][0][0]")


def test_scan_message_stays_one_short_line():
    names = ["evil\nFAKE: line", *(f"lambda_{i}" for i in range(11))]
    layers = [{"class_name": "Lambda", "config": {"name": name}} for name in names]
    with pytest.raises(UnsafeModelError) as info:
        scan_config({"class_name": "Sequential", "config": {"name": "m", "layers": layers}}, "keras3")
    clauses = [f"layer '{name}' is a Lambda layer, which runs arbitrary Python code" for name in names[1:10]]
    assert str(info.value) == (
        "layer 'evil\\nFAKE: line' is a Lambda layer, which runs arbitrary Python code, "
        + ", ".join(clauses)
        + ", and 2 more; edgeship loads models in safe mode. Replace them with built-in layers and save the "
        "model again."
    )


# --- 2. malformed configs -----------------------------------------------------------------------------------


def _set_attribute(source: Path, target: Path, value: Any) -> Path:
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as h5:
        del h5.attrs["model_config"]
        h5.attrs["model_config"] = value
    return target


DEEP = "[" * 100_000 + "]" * 100_000


MALFORMED_H5 = [
    (
        "not-json",
        "{not json",
        "its model_config is not valid JSON: Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)",
    ),
    ("int", np.int64(7), "its model_config attribute holds int64 data, not a JSON string"),
    ("array", np.array(["{}", "{}"], dtype=h5py.string_dtype()), "its model_config attribute holds an "
     "array of shape (2,), not one JSON string"),
    ("list", "[1, 2]", "its model_config is a JSON list, not an object"),
    (
        "deep",
        '{"class_name": "Sequential", "config": ' + DEEP + "}",
        f"its model_config is nested more than {MAX_JSON_DEPTH} levels deep, which no real model is",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "value", "reason"), MALFORMED_H5, ids=[c[0] for c in MALFORMED_H5])
def test_malformed_h5_config_gets_one_line(assets, tmp_path, case, value, reason):
    model = _set_attribute(assets / "tfk.h5", tmp_path / f"{case}.h5", value)
    expected = f"ModelLoadError: {model} is not a readable Keras .h5 file ({reason}); save the model again"
    assert_one_line(model, tmp_path, expected)


MALFORMED_KERAS = [
    ("metadata-list", "metadata.json", "[]", "metadata.json is a JSON list, not an object"),
    ("config-list", "config.json", "[1]", "config.json is a JSON list, not an object"),
    (
        "config-deep",
        "config.json",
        DEEP,
        f"config.json is nested more than {MAX_JSON_DEPTH} levels deep, which no real model is",
    ),
    (
        "config-not-utf8",
        "config.json",
        "\udcff",
        "config.json is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
    ),
]


@pytest.mark.parametrize(
    ("case", "member", "text", "reason"), MALFORMED_KERAS, ids=[c[0] for c in MALFORMED_KERAS]
)
def test_malformed_keras_config_gets_one_line(assets, tmp_path, case, member, text, reason):
    data = text.encode("utf-8", "surrogateescape")  # "\udcff" becomes the byte 0xff
    model = replace_member(assets / "k3.keras", tmp_path / f"{case}.keras", member, data)
    expected = f"ModelLoadError: {model} is not a readable .keras file ({reason}); save the model again with model.save()"
    assert_one_line(model, tmp_path, expected)


def _config_entry(data: bytes) -> tuple[int, int, int]:
    """Offsets of config.json's central directory entry, its local header, and its compressed bytes."""
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 57] != b"config.json":
        central = data.find(b"PK\x01\x02", central + 1)
    local = int.from_bytes(data[central + 42 : central + 46], "little")
    extra = int.from_bytes(data[local + 28 : local + 30], "little")
    return central, local, local + 30 + len(b"config.json") + extra


def _encrypt_flag(data: bytearray) -> None:
    central, local, _ = _config_entry(data)
    data[central + 8] |= 1
    data[local + 6] |= 1


def _unknown_method(data: bytearray) -> None:
    central, local, _ = _config_entry(data)
    data[central + 10], data[local + 8] = 99, 99


def _broken_deflate(data: bytearray) -> None:
    start = _config_entry(data)[2]
    data[start : start + 8] = b"\xff" * 8


BROKEN_ZIPS = [
    ("encrypted", _encrypt_flag, "config.json is encrypted"),
    ("unknown-method", _unknown_method, "config.json cannot be inflated: That compression method is not supported"),
    ("broken-deflate", _broken_deflate, "config.json cannot be inflated: Error -3 while decompressing data: invalid block type"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "damage", "reason"), BROKEN_ZIPS, ids=[c[0] for c in BROKEN_ZIPS])
def test_broken_zip_member_gets_one_line(assets, tmp_path, case, damage, reason):
    with zipfile.ZipFile(assets / "k3.keras") as archive:
        text = archive.read("config.json")
    model = replace_member(assets / "k3.keras", tmp_path / f"{case}.keras", "config.json", text)  # deflated
    data = bytearray(model.read_bytes())
    damage(data)
    model.write_bytes(bytes(data))
    expected = f"ModelLoadError: {model} is not a readable .keras file ({reason}); save the model again with model.save()"
    assert_one_line(model, tmp_path, expected)


# --- 3. zip bombs: bounded memory ---------------------------------------------------------------------------

BOMB_MIB = 512  # the whole config.json in memory would take >1 GiB (bytes, then the decoded text)


def _bomb(path: Path, source: Path, member: str, lie_about_size: bool = False) -> Path:
    """`source` with `member` replaced by BOMB_MIB MiB of spaces (valid JSON whitespace): a 500 KB file."""
    with zipfile.ZipFile(source) as archive:
        members = {
            info.filename: archive.read(info) for info in archive.infolist() if info.filename != member
        }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open(member, "w") as stream:
            chunk = b" " * (1 << 24)
            for _ in range(BOMB_MIB // 16):
                stream.write(chunk)
    if lie_about_size:  # the central directory claims 100 bytes; the deflate stream still holds it all
        data = bytearray(path.read_bytes())
        central = data.rfind(b"PK\x01\x02")  # the last entry of the central directory: `member`
        data[central + 24 : central + 28] = (100).to_bytes(4, "little")
        path.write_bytes(bytes(data))
    assert path.stat().st_size < 2 * 2**20
    return path


BOMBS = [
    ("config.json", f"config.json inflates to {BOMB_MIB} MiB, over the 64 MiB limit for it; no real model's is that big"),
    ("metadata.json", f"metadata.json inflates to {BOMB_MIB} MiB, over the 1 MiB limit for it; no real model's is that big"),
    ("model.weights.h5", f"model.weights.h5 inflates 1029-fold to {BOMB_MIB} MiB, which only a zip bomb does"),
]  # fmt: skip


@pytest.mark.parametrize(("member", "reason"), BOMBS, ids=[b[0] for b in BOMBS])
def test_zip_bomb_is_refused_before_it_is_read(assets, tmp_path, member, reason):
    model = _bomb(tmp_path / "bomb.keras", assets / "k3.keras", member)
    expected = f"ModelLoadError: {model} is not a readable .keras file ({reason}); save the model again with model.save()"
    peak = assert_one_line(model, tmp_path, expected)
    assert peak < 200, f"peak RSS {peak} MiB"  # the bomb's text alone would take 512 MiB


def test_zip_bomb_with_a_lying_size_header_is_refused_in_bounded_memory(assets, tmp_path):
    # Python's zipfile stops at the claimed size (then fails the CRC); the capped read keeps it so
    model = _bomb(tmp_path / "liar.keras", assets / "k3.keras", "config.json", lie_about_size=True)
    peak = assert_one_line(
        model,
        tmp_path,
        f"ModelLoadError: {model} is not a readable .keras file (Bad CRC-32 for file 'config.json'); save the "
        "model again with model.save()",
    )
    assert peak < 200, f"peak RSS {peak} MiB"


# --- 4. Keras 3 .h5 -----------------------------------------------------------------------------------------


def test_keras3_h5_exports(assets, tmp_path):
    code, stderr, _ = export(assets / "k3.h5", tmp_path / "out")
    assert code == 0, stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "tflite-fp32" in json.dumps(manifest)


# --- 5. keras.applications' own layers outside keras.layers -------------------------------------------------
# ConvNeXt's LayerScale and InceptionResNetV2's CustomScaleLayer are Keras' code (keras.src.applications.*),
# allowed by their exact module, class and registered name; a look-alike anywhere else is someone's code.


def _keras3_application_layers(path: Path) -> Path:
    import keras
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    x = keras.Input((8, 8, 1))
    scaled = LayerScale(1e-6, 1, name="layer_scale")(x)
    mixed = CustomScaleLayer(0.17, name="custom_scale")([x, scaled])
    keras.Model(x, keras.layers.Dense(4, name="head")(keras.layers.Flatten()(mixed))).save(path)
    return path


def _tf_keras_application_layers(path: Path) -> Path:
    import tf_keras
    from tf_keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    x = tf_keras.Input((8, 8, 1))
    mixed = CustomScaleLayer(0.17, name="custom_scale")([x, tf_keras.layers.Conv2D(1, 1)(x)])
    tf_keras.Model(x, tf_keras.layers.Dense(4, name="head")(tf_keras.layers.Flatten()(mixed))).save(path)
    return path


@pytest.fixture(scope="module")
def application_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("applications")
    _keras3_application_layers(root / "k3.keras")
    _tf_keras_application_layers(root / "tfk.h5")
    return root


def _application_entries(flavour: str) -> list[dict[str, Any]]:
    """The serialised objects of `flavour`'s application layers, exactly as each flavour writes them."""
    import keras
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer
    from tf_keras.src.applications.inception_resnet_v2 import CustomScaleLayer as TfkCustomScaleLayer
    from tf_keras.src.saving import serialization_lib as tf_keras_serialization

    if flavour == "keras3":
        layers = [LayerScale(1e-6, 3, name="layer_scale"), CustomScaleLayer(0.17, name="custom_scale")]
        return [keras.saving.serialize_keras_object(layer) for layer in layers]
    return [tf_keras_serialization.serialize_keras_object(TfkCustomScaleLayer(0.17, name="custom_scale"))]


def test_application_layers_are_serialised_as_the_allowlist_says(application_files):
    """The allowlist is the real entries (module, class_name, registered_name) of today's Keras and tf-keras
    (a tf-keras .h5 names the class by its registered name alone)."""
    shapes = {
        flavour: [(e["module"], e["class_name"], e["registered_name"]) for e in _application_entries(flavour)]
        for flavour in ("keras3", "tf_keras")
    }
    with h5py.File(application_files / "tfk.h5") as h5:
        h5_layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    shapes["tf_keras"] += [
        (e.get("module"), e["class_name"], e.get("registered_name"))
        for e in h5_layers
        if "Scale" in e["class_name"]
    ]
    assert shapes == {
        "keras3": [
            ("keras.src.applications.convnext", "LayerScale", "LayerScale"),
            ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "CustomScaleLayer"),
        ],
        "tf_keras": [
            ("tf_keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "Custom>CustomScaleLayer"),
            (None, "Custom>CustomScaleLayer", None),
        ],
    }


@pytest.mark.parametrize("name", ["k3.keras", "tfk.h5"])
def test_application_layers_load_in_safe_mode_and_export(application_files, tmp_path, name):
    code, stderr, _ = export(application_files / name, tmp_path / "out")
    assert code == 0, stderr
    assert "tflite-fp32" in json.loads((tmp_path / "out" / "manifest.json").read_text())["variants"]


def _layer(entry: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**entry, **changes, "config": {**entry["config"], "name": "pwn"}}


LOOK_ALIKES = [
    # Keras 3 imports any module of keras_hub/keras_cv/keras_nlp a config names, and uses the class it finds
    ("keras3", 0, {"module": "keras_hub.src.applications.convnext"}, "keras_hub.src.applications.convnext.LayerScale"),
    ("keras3", 0, {"registered_name": "evil>LayerScale"}, "evil>LayerScale"),
    ("keras3", 1, {"registered_name": "Custom>CustomScaleLayer"}, "Custom>CustomScaleLayer"),
    ("keras3", 0, {"module": ["keras.src.applications.convnext"]}, "LayerScale"),
    ("keras3", 1, {"module": None, "class_name": "Custom>CustomScaleLayer", "registered_name": None},
     "Custom>CustomScaleLayer"),
    ("tf_keras", 0, {"module": "tf_keras.src.applications.convnext", "class_name": "LayerScale",
                     "registered_name": "LayerScale"}, "tf_keras.src.applications.convnext.LayerScale"),
    ("tf_keras", 0, {"registered_name": "CustomScaleLayer"},
     "tf_keras.src.applications.inception_resnet_v2.CustomScaleLayer"),
]  # fmt: skip


@pytest.mark.parametrize(("flavour", "which", "changes", "shown"), LOOK_ALIKES)
def test_look_alikes_of_application_layers_are_refused(flavour, which, changes, shown):
    entry = _layer(_application_entries(flavour)[which], **changes)
    with pytest.raises(UnsafeModelError) as info:
        scan_config({"class_name": "Functional", "config": {"name": "m", "layers": [entry]}}, flavour)
    assert str(info.value) == (
        f"layer 'pwn' uses the custom class '{shown}', which is not a built-in Keras layer" + REFUSED_CUSTOM
    )


def test_a_look_alike_module_is_refused_before_keras_imports_it(application_files, tmp_path):
    """A keras_hub look-alike of convnext on the path: Keras 3's own safe-mode loader imports it (the marker
    appears); edgeship refuses the file by name and the marker does not appear."""
    marker = tmp_path / "code-ran"
    package = tmp_path / "path" / "keras_hub" / "src" / "applications"
    package.mkdir(parents=True)
    for folder in (package, package.parent, package.parent.parent):
        (folder / "__init__.py").write_text("")
    (package / "convnext.py").write_text(
        f"open({str(marker)!r}, 'w').write('code from the model file ran')\n"
        "from keras.src.applications.convnext import LayerScale\n"
    )

    def elsewhere(config: dict[str, Any]) -> dict[str, Any]:
        scale = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "LayerScale")
        scale["module"] = "keras_hub.src.applications.convnext"
        return config

    hostile = rewrite_keras_member(
        application_files / "k3.keras", tmp_path / "lookalike.keras", "config.json", elsewhere
    )
    load = "import sys, keras; keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True)"
    env = {"PYTHONPATH": str(tmp_path / "path")}
    subprocess.run([sys.executable, "-c", load, str(hostile)], env={**ENV, **env}, timeout=180, check=True)
    assert marker.exists()  # the attack file is real
    marker.unlink()
    assert_one_line(
        hostile,
        tmp_path,
        "UnsafeModelError: layer 'layer_scale' uses the custom class 'keras_hub.src.applications.convnext."
        "LayerScale', which is not a built-in Keras layer" + REFUSED_CUSTOM,
        **env,
    )
    assert not marker.exists()
