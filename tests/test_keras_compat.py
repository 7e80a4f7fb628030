"""Keras 3 -> tf-keras translation, the safe-mode scan, and TFJS model.json files that load in tfjs 4.22."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest
import tf_keras

from exporter.errors import UnsafeModelError, UnsupportedModelError
from exporter.keras_compat import to_tf_keras
from exporter.safe_mode import scan_config
from exporter.tfjs_topology import tfjs_topology, tfjs_weight_entries

REPO = Path(__file__).resolve().parent.parent
TFJS_PREDICT = REPO / "tests" / "tfjs_predict.mjs"
NODE = shutil.which("node")

LAMBDA_MESSAGE = (
    "layer 'lambda' is a Lambda layer, which runs arbitrary Python code; edgeship loads models in safe mode. "
    "Replace it with built-in layers and save the model again."
)
CUSTOM_MESSAGE = (
    "layer 'my_layer' uses the custom class 'MyLayer', which is not a built-in Keras layer; edgeship loads "
    "models in safe mode and runs no code from model files. Use built-in layers, or export the model as a "
    "SavedModel."
)


@keras.saving.register_keras_serializable(package="edgeship_test")
class MyLayer(keras.layers.Layer):
    def call(self, x: Any) -> Any:
        return x * 2.0


class TfkMyLayer(tf_keras.layers.Layer):
    def call(self, x: Any) -> Any:
        return x * 2.0


# --- fixtures -----------------------------------------------------------------------------------------------


def _randomise_batch_norm(model: Any, seed: int = 0) -> Any:
    """Fresh BN layers are identities; random statistics make a wrong weight order visible in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma),
                    rng.normal(0, 0.3, beta),
                    rng.normal(0, 0.3, mean),
                    rng.uniform(0.5, 2.0, var),
                ]
            )
    return model


def _all_layers(model: Any) -> list[Any]:
    return [
        sub
        for layer in model.layers
        for sub in ([layer, *_all_layers(layer)] if hasattr(layer, "layers") else [layer])
    ]


@pytest.fixture(scope="module")
def sequential_cnn() -> Any:
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3), name="image"),
            keras.layers.Conv2D(8, 3, padding="same", name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(max_value=6.0, name="relu6"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.DepthwiseConv2D(3, padding="same", name="dw"),
            keras.layers.Activation("relu", name="act"),
            keras.layers.SeparableConv2D(6, 3, name="sep"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(5, activation="softmax", name="probs"),
        ],
        name="cnn",
    )
    return _randomise_batch_norm(model)


@pytest.fixture(scope="module")
def functional_branches() -> Any:
    """Branches, a merge of a list of tensors, a shared layer (node index 1), call kwargs, a nested model."""
    image = keras.Input((12, 12, 3), name="image")
    left = keras.layers.Conv2D(4, 3, padding="same", activation="silu", name="left")(image)
    right = keras.layers.Conv2D(4, 1, name="right")(image)
    shared = keras.layers.Conv2D(4, 1, name="shared")
    added = keras.layers.Add(name="add")([shared(left), shared(right)])
    joined = keras.layers.Concatenate(name="concat")([added, left, right])
    block = keras.Sequential(
        [
            keras.Input((12, 12, 12)),
            keras.layers.Conv2D(6, 3, padding="same", name="block_conv"),
            keras.layers.BatchNormalization(name="block_bn"),
        ],
        name="block",
    )
    x = keras.layers.Dropout(0.2, name="drop")(block(joined), training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    probs = keras.layers.Dense(3, activation="softmax", kernel_regularizer="l2", name="probs")(pooled)
    aux = keras.layers.Dense(2, name="aux")(pooled)
    return _randomise_batch_norm(keras.Model(image, [probs, aux], name="branches"), seed=1)


@pytest.fixture(scope="module")
def mobilenet() -> Any:
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    return _randomise_batch_norm(model, seed=2)


@pytest.fixture(scope="module")
def nested_functional() -> Any:
    """Two inputs; nested models as outputs: a functional one called twice and a Sequential one."""
    features = keras.Input((5,), name="features")
    dense = keras.layers.Dense(5, activation="tanh", name="inner_dense")
    inner = keras.Model(features, dense(features), name="inner")
    head = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, name="head_dense")], name="head")
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    mixed = keras.layers.Multiply(name="mul")([inner(a), b])
    return keras.Model([a, b], [inner(mixed), head(mixed)], name="nested")


MODELS = ["sequential_cnn", "functional_branches", "mobilenet", "nested_functional"]


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    """Each Keras 3 model translated once, shared by the Python and the tfjs tests."""
    return {}


def _translate(name: str, request: pytest.FixtureRequest, cache: dict[str, Any]) -> tuple[Any, Any]:
    model = request.getfixturevalue(name)
    if name not in cache:
        cache[name] = to_tf_keras(model)
    return model, cache[name]


def _random_inputs(model: Any, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def _outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    result = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(r) for r in (result if isinstance(result, list | tuple) else [result])]


def _layer_names(model: Any) -> list[Any]:
    return [
        (layer.name, _layer_names(layer)) if hasattr(layer, "layers") else layer.name
        for layer in model.layers
    ]


# --- to_tf_keras --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_translation_keeps_names_and_outputs(
    name: str, request: pytest.FixtureRequest, translated: dict[str, Any]
) -> None:
    model, tfk_model = _translate(name, request, translated)
    assert isinstance(tfk_model, tf_keras.Model)
    assert _layer_names(tfk_model) == _layer_names(model)
    inputs = _random_inputs(model)
    for expected, actual in zip(_outputs(model, inputs), _outputs(tfk_model, inputs), strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)


def test_saved_keras_file_translates(tmp_path: Path, sequential_cnn: Any) -> None:
    path = tmp_path / "cnn.keras"
    sequential_cnn.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    inputs = _random_inputs(reloaded, seed=3)
    np.testing.assert_allclose(
        _outputs(to_tf_keras(reloaded), inputs)[0], _outputs(sequential_cnn, inputs)[0], atol=1e-5, rtol=0
    )


def test_tf_keras_model_is_returned_unchanged() -> None:
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    assert to_tf_keras(model) is model


def test_trainable_flags_are_copied() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="frozen"), keras.layers.Dense(2)])
    model.get_layer("frozen").trainable = False
    tfk_model = to_tf_keras(model)
    assert [layer.trainable for layer in tfk_model.layers] == [False, True]


def _dense_model(**dense_kwargs: Any) -> Any:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense", **dense_kwargs)])


def _ops_model() -> Any:
    """A keras.ops call without a lowering (exporter/lowering lowers `x + 1` and the like)."""
    image = keras.Input((4,), name="x")
    return keras.Model(image, keras.layers.Dense(2, name="dense")(keras.ops.exp(image)))


def _rms_model() -> Any:
    return keras.Sequential([keras.Input((4,)), keras.layers.RMSNormalization(name="rms")])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: _dense_model(lora_rank=2),
            "layer 'dense' (Dense) sets lora_rank=2, a Keras 3-only argument that tf-keras/TFJS cannot "
            "express; leave it at its default and save the model again.",
        ),
        (
            _rms_model,
            "layer 'rms' (RMSNormalization) has no tf-keras/TFJS equivalent; rebuild the model with layers "
            "that tf-keras also has, or export the model as a SavedModel (TFLite variants only).",
        ),
        (
            _ops_model,
            "no TFJS layers model: keras.ops Exp (exp); tfjs-layers has no layer for it, so the TFJS variants "
            "and QAT are skipped (the TFLite variants are still built); to get them, rebuild the model with "
            "keras.layers that tfjs-layers has.",
        ),
    ],
    ids=["keras3-only-argument", "keras3-only-layer", "keras-ops"],
)
def test_untranslatable_models_are_refused(build: Any, message: str) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        to_tf_keras(build())
    assert str(info.value) == message


def test_keras3_only_argument_at_default_is_dropped() -> None:
    model = _dense_model(lora_rank=None)
    assert to_tf_keras(model).get_layer("dense").units == 2


# --- scan_config --------------------------------------------------------------------------------------------


def _keras3_config(tmp_path: Path, layer: Any) -> dict[str, Any]:
    model = keras.Sequential([keras.Input((4,)), layer])
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def _tf_keras_config(tmp_path: Path, layer: Any) -> dict[str, Any]:
    model = tf_keras.Sequential([tf_keras.Input((4,)), layer])
    path = tmp_path / "model.h5"
    model.save(path)
    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["model_config"])


@pytest.mark.parametrize(
    ("flavour", "make_layer", "message"),
    [
        ("keras3", lambda: keras.layers.Lambda(lambda x: x * 2, name="lambda"), LAMBDA_MESSAGE),
        ("keras3", lambda: MyLayer(name="my_layer"), CUSTOM_MESSAGE),
        ("tf_keras", lambda: tf_keras.layers.Lambda(lambda x: x * 2, name="lambda"), LAMBDA_MESSAGE),
        (
            "tf_keras",
            lambda: TfkMyLayer(name="my_layer"),
            CUSTOM_MESSAGE.replace("'MyLayer'", "'TfkMyLayer'"),
        ),
    ],
    ids=["keras3-lambda", "keras3-custom", "tf_keras-lambda", "tf_keras-custom"],
)
def test_scan_refuses_code_in_model_files(
    tmp_path: Path, flavour: str, make_layer: Any, message: str
) -> None:
    read = _keras3_config if flavour == "keras3" else _tf_keras_config
    config = read(tmp_path, make_layer())
    with pytest.raises(UnsafeModelError) as info:
        scan_config(config, flavour)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_scan_names_every_offender_in_one_line(tmp_path: Path) -> None:
    inner = keras.Sequential([keras.Input((4,)), MyLayer(name="inner_custom")], name="inner")
    image = keras.Input((4,), name="x")
    x = keras.layers.Lambda(lambda t: t + 1, name="lambda_a")(image)
    model = keras.Model(image, keras.layers.Lambda(lambda t: t * 3, name="lambda_b")(inner(x)))
    config = keras.saving.serialize_keras_object(model)
    with pytest.raises(UnsafeModelError) as info:
        scan_config(config, "keras3")
    assert str(info.value) == (
        "layer 'lambda_a' is a Lambda layer, which runs arbitrary Python code, layer 'inner_custom' uses the "
        "custom class 'MyLayer', which is not a built-in Keras layer, layer 'lambda_b' is a Lambda layer, "
        "which runs arbitrary Python code; edgeship loads models in safe mode and runs no code from model "
        "files. Use built-in layers, or export the model as a SavedModel."
    )


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_scan_accepts_built_in_layers(flavour: str, functional_branches: Any) -> None:
    if flavour == "keras3":
        config = keras.saving.serialize_keras_object(functional_branches)
    else:
        config = json.loads(to_tf_keras(functional_branches).to_json())
    scan_config(config, flavour)  # type: ignore[arg-type]


# --- TFJS ---------------------------------------------------------------------------------------------------


def _write_tfjs(tfk_model: Any, folder: Path) -> Path:
    """An unquantized single-shard TFJS layers model, written independently of the exporter's own writer."""
    specs, blobs = [], []
    for name, array in tfjs_weight_entries(tfk_model):
        dtype = "float32" if array.dtype == np.float32 else "int32"
        specs.append({"name": name, "shape": list(array.shape), "dtype": dtype})
        blobs.append(array.astype("<f4" if dtype == "float32" else "<i4").tobytes())
    (folder / "w.bin").write_bytes(b"".join(blobs))
    model_json = {
        "format": "layers-model",
        "generatedBy": "edgeship tests",
        "convertedBy": "edgeship tests",
        "modelTopology": tfjs_topology(tfk_model),
        "weightsManifest": [{"paths": ["w.bin"], "weights": specs}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(model_json))
    return path


def _tfjs_predict(model_json: Path, inputs: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    specs = []
    for i, array in enumerate(inputs):
        (folder / f"input{i}.bin").write_bytes(array.astype("<f4").tobytes())
        specs.append({"shape": list(array.shape), "file": f"input{i}.bin"})
    (folder / "inputs.json").write_text(json.dumps(specs))
    assert NODE is not None, "node is needed to run @tensorflow/tfjs"
    done = subprocess.run(
        [NODE, str(TFJS_PREDICT), str(model_json), str(folder / "inputs.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [np.asarray(out["data"], np.float32).reshape(out["shape"]) for out in json.loads(done.stdout)]


@pytest.mark.skipif(NODE is None or not (REPO / "node_modules/@tensorflow/tfjs").is_dir(), reason="no tfjs")
@pytest.mark.parametrize("name", MODELS)
def test_tfjs_loads_and_predicts(
    name: str, tmp_path: Path, request: pytest.FixtureRequest, translated: dict[str, Any]
) -> None:
    model, tfk_model = _translate(name, request, translated)
    inputs = _random_inputs(model, seed=4)
    actual = _tfjs_predict(_write_tfjs(tfk_model, tmp_path), inputs, tmp_path)
    for expected, got in zip(_outputs(model, inputs), actual, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_tfjs_weight_names_and_order(request: pytest.FixtureRequest, translated: dict[str, Any]) -> None:
    _, tfk_model = _translate("sequential_cnn", request, translated)
    entries = tfjs_weight_entries(tfk_model)
    assert [name for name, _ in entries] == [
        "conv/kernel",
        "conv/bias",
        "bn/gamma",
        "bn/beta",
        "bn/moving_mean",
        "bn/moving_variance",
        "dw/depthwise_kernel",
        "dw/bias",
        "sep/depthwise_kernel",
        "sep/pointwise_kernel",
        "sep/bias",
        "probs/kernel",
        "probs/bias",
    ]
    assert all(array.dtype == np.float32 for _, array in entries)


def test_tfjs_topology_form(request: pytest.FixtureRequest, translated: dict[str, Any]) -> None:
    _, tfk_model = _translate("functional_branches", request, translated)
    topology = tfjs_topology(tfk_model)
    assert topology["keras_version"] == tf_keras.__version__
    assert topology["backend"] == "tensorflow"
    layers = {layer["name"]: layer for layer in topology["config"]["layers"]}
    assert layers["image"]["config"]["batch_input_shape"] == [None, 12, 12, 3]
    assert layers["add"]["inbound_nodes"] == [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]
    assert layers["drop"]["inbound_nodes"] == [[["block", 1, 0, {"training": False}]]]
    assert layers["left"]["config"]["activation"] == "swish"
    regularizer = layers["probs"]["config"]["kernel_regularizer"]
    assert regularizer["class_name"] == "L1L2"  # tfjs-layers registers no L2
    assert regularizer["config"] == {"l1": 0.0, "l2": pytest.approx(0.01)}
    assert "module" not in json.dumps(topology)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            lambda: tf_keras.layers.UnitNormalization(name="unit"),
            "no TFJS layers model: UnitNormalization (unit); @tensorflow/tfjs 4.22 has no such layer; rebuild "
            "the model with layers TFJS supports, or use the TFLite variants.",
        ),
        (
            lambda: tf_keras.layers.ReLU(negative_slope=0.1, name="leaky"),
            "no TFJS layers model: ReLU (leaky); it sets negative_slope or threshold, which TFJS ignores; "
            "use LeakyReLU or a plain ReLU, or use the TFLite variants.",
        ),
        (
            lambda: tf_keras.layers.Activation("exponential", name="exp"),
            "no TFJS layers model: activation exponential (exp); TFJS (@tensorflow/tfjs 4.22) does not have "
            "it; use another activation, or use the TFLite variants.",
        ),
        (
            lambda: tf_keras.layers.GlobalAveragePooling1D(keepdims=True, name="gap"),
            "no TFJS layers model: GlobalAveragePooling1D (gap); it sets keepdims=True, which TFJS ignores; "
            "follow the pooling with a Reshape, or use the TFLite variants.",
        ),
        (
            lambda: tf_keras.layers.Rescaling([1.0, 2.0], name="rs"),
            "no TFJS layers model: Rescaling (rs); it has a scale or offset per channel, which TFJS does not "
            "take; use scalars, or use the TFLite variants.",
        ),
    ],
    ids=["layer", "relu-slope", "activation", "keepdims", "per-channel-rescaling"],
)
def test_tfjs_topology_refuses_what_tfjs_cannot_run(layer: Any, message: str) -> None:
    model = tf_keras.Sequential([tf_keras.Input((2, 2)), layer()])
    with pytest.raises(UnsupportedModelError) as info:
        tfjs_topology(model)
    assert str(info.value) == message
