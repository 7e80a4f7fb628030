"""Lowering (exporter/lowering): Keras 3 ops and layers that tfjs-layers lacks, rewritten as layers it has.

Every lowering is checked where it matters, in @tensorflow/tfjs 4.22 itself (node, cpu backend): the TFJS
layers model that edgeship writes must predict what the Keras 3 model predicts, to <= 1e-4. The tiny
models put one lowering on each output (8x8 inputs, values spread over [-6, 6] so that hard_sigmoid's
clip regions are hit); two keras.applications models go through the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers, ops
from tfjs_node import NODE, REPO

from exporter.config import Precision
from exporter.context import decode_array
from exporter.errors import UnsupportedModelError
from exporter.keras_compat import to_tf_keras
from exporter.tfjs_topology import tfjs_topology, tfjs_weight_entries
from exporter.tfjs_weights import write_weights

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
TFJS_PREDICT = REPO / "tests" / "tfjs_predict.mjs"
TOLERANCE = 1e-4  # the acceptance bound for TFJS fp32 against Keras

pytestmark = pytest.mark.skipif(
    NODE is None or not (REPO / "node_modules/@tensorflow/tfjs").is_dir(), reason="node and tfjs needed"
)


# --- tiny models, one lowering per output --------------------------------------------------------------------


def arithmetic() -> tuple[Any, list[str]]:
    """keras.ops arithmetic with a scalar (-> Rescaling), of two tensors (-> Add/Multiply/...), Subtract."""
    x = keras.Input((8, 8, 3), name="x")
    c = layers.Conv2D(3, 1, name="c")(x)
    outputs = {
        "x + 3": x + 3.0,
        "3 + x": 3.0 + x,
        "x - 3": x - 3.0,
        "3 - x": 3.0 - x,
        "x * 2": x * 2.0,
        "x * (1/6)": x * (1.0 / 6.0),
        "x / 6": x / 6.0,
        "-x": -x,
        "x + c": x + c,
        "x * c": x * c,
        "x - c": x - c,
        "Subtract layer": layers.Subtract(name="subtract_layer")([x, c]),
        "maximum(x, c)": ops.maximum(x, c),
        "minimum(x, c)": ops.minimum(x, c),
        "maximum(x, 0)": ops.maximum(x, 0.0),
    }
    return keras.Model(x, list(outputs.values()), name="arithmetic"), list(outputs)


def activations() -> tuple[Any, list[str]]:
    """Keras 3's hard_sigmoid/hard_silu (not tfjs' hard_sigmoid), relu6, leaky_relu: layers, ops, inline;
    global pooling with keepdims (tfjs-layers ignores the argument)."""
    x = keras.Input((8, 8, 3), name="x")
    flat = layers.Flatten(name="flat")(x)
    outputs = {
        "Activation hard_sigmoid": layers.Activation("hard_sigmoid", name="a_hsig")(x),
        "Activation hard_silu": layers.Activation("hard_silu", name="a_hsilu")(x),
        "Activation hard_swish": layers.Activation("hard_swish", name="a_hswish")(x),
        "Activation relu6": layers.Activation("relu6", name="a_relu6")(x),
        "Activation leaky_relu": layers.Activation("leaky_relu", name="a_leaky")(x),
        "LeakyReLU(0.1)": layers.LeakyReLU(negative_slope=0.1, name="leaky01")(x),
        "Conv2D(activation=hard_silu)": layers.Conv2D(4, 3, activation="hard_silu", name="conv_hs")(x),
        "Dense(activation=hard_sigmoid)": layers.Dense(5, activation="hard_sigmoid", name="dense_hs")(flat),
        "ops.hard_sigmoid": ops.hard_sigmoid(x),
        "ops.hard_silu": ops.hard_silu(x),
        "ops.relu6": ops.relu6(x),
        "ops.relu": ops.relu(x),
        "ops.sigmoid": ops.sigmoid(x),
        "ops.silu": ops.silu(x),
        "ops.tanh": ops.tanh(x),
        "GlobalAveragePooling2D(keepdims)": layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x),
        "GlobalMaxPooling2D(keepdims)": layers.GlobalMaxPooling2D(keepdims=True, name="gmp")(x),
        "GlobalAveragePooling1D(keepdims)": layers.GlobalAveragePooling1D(keepdims=True, name="gap1")(
            layers.Reshape((64, 3), name="as_sequence")(x)
        ),
        # MobileNetV3's own hard-swish: ReLU(6)(x + 3) * (1/6), then a Multiply layer
        "MobileNetV3 hard_swish": layers.Multiply(name="mv3_hswish")(
            [x, layers.ReLU(6.0, name="mv3_relu6")(x + 3.0) * (1.0 / 6.0)]
        ),
    }
    return keras.Model(x, list(outputs.values()), name="activations"), list(outputs)


def normalization() -> tuple[Any, list[str]]:
    """Normalization (adapted, given, inverted, global, on features) and per-channel Rescaling."""
    rng = np.random.default_rng(5)
    x = keras.Input((8, 8, 3), name="x")
    features = keras.Input((5,), name="features")
    adapted = layers.Normalization(axis=-1, name="adapted")
    adapted.adapt(rng.normal([120.0, 110.0, 100.0], [60.0, 55.0, 50.0], (64, 8, 8, 3)).astype(np.float32))
    adapted_features = layers.Normalization(name="adapted_features")
    adapted_features.adapt(rng.normal(3.0, 2.0, (64, 5)).astype(np.float32))
    outputs = {
        "Normalization adapted": adapted(x),
        "Normalization mean/variance": layers.Normalization(
            mean=[0.485, 0.456, 0.406], variance=[0.052441, 0.050176, 0.050625], name="given"
        )(x),
        "Normalization invert": layers.Normalization(
            mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 9.0], invert=True, name="inverted"
        )(x),
        "Normalization axis=None": layers.Normalization(axis=None, mean=2.0, variance=9.0, name="glob")(x),
        "Normalization on features": adapted_features(features),
        "Rescaling per channel": layers.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.0, 3.0], name="rs")(x),
    }
    return keras.Model([x, features], list(outputs.values()), name="normalization"), list(outputs)


def sequential() -> tuple[Any, list[str]]:
    """A Sequential model: lowerings that are chains (Normalization, hard_sigmoid) work there too."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0], name="norm"),
            layers.Conv2D(4, 3, name="conv"),
            layers.Activation("hard_sigmoid", name="hsig"),
            layers.Activation("relu6", name="relu6"),
            layers.Flatten(name="flat"),
            layers.Dense(3, activation="hard_sigmoid", name="head"),
        ],
        name="sequential",
    )
    return model, ["Sequential"]


def sequential_branching() -> tuple[Any, list[str]]:
    """hard_silu needs a second branch, which a Sequential model cannot hold: it becomes a Functional one."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, 3, activation="hard_swish", name="conv"),
            layers.Activation("hard_silu", name="hsilu"),
            layers.Flatten(name="flat"),
            layers.Dense(3, name="head"),
        ],
        name="sequential_branching",
    )
    return model, ["Sequential with hard_silu"]


def applications() -> tuple[Any, list[str]]:
    """keras.applications' own layers (real instances of ConvNeXt's LayerScale and InceptionResNetV2's
    CustomScaleLayer) and ConvNeXt's other pieces: a nested Sequential stem without an InputLayer,
    ConvNeXt's depthwise convolution (a grouped Conv2D, which tfjs-layers lacks), LayerNormalization, gelu,
    a tensor add around a block."""
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    x = keras.Input((8, 8, 3), name="x")
    stem = keras.Sequential(
        [
            layers.Conv2D(4, 2, strides=2, name="stem_conv"),
            layers.LayerNormalization(epsilon=1e-6, name="stem_ln"),
        ],
        name="stem",
    )(x)
    y = layers.Conv2D(4, 3, padding="same", groups=4, name="dw")(stem)  # as ConvNeXt writes it
    y = layers.LayerNormalization(epsilon=1e-6, name="ln")(y)
    y = layers.Activation("gelu", name="gelu")(layers.Dense(8, name="pw1")(y))
    block_scale = LayerScale(1e-6, 4, name="block_scale")
    block = stem + block_scale(layers.Dense(4, name="pw2")(y))
    lone_scale = LayerScale(1e-6, 3, name="lone_scale")
    outputs = {
        "LayerScale": lone_scale(x),
        "CustomScaleLayer": CustomScaleLayer(0.17, name="custom_scale")(
            [x, layers.Conv2D(3, 1, name="c")(x)]
        ),
        "ConvNeXt block": block,
        "Conv2D(groups=channels, 2 filters each)": layers.Conv2D(6, 3, groups=3, name="grouped")(x),
    }
    rng = np.random.default_rng(11)
    for scale in (block_scale, lone_scale):  # weights=None starts at 1e-6, which would hide a wrong gamma
        scale.gamma.assign(rng.uniform(-2.0, 2.0, scale.gamma.shape).astype(np.float32))
    return keras.Model(x, list(outputs.values()), name="applications"), list(outputs)


TINY = {"arithmetic": arithmetic, "activations": activations, "normalization": normalization}
TINY.update(sequential=sequential, sequential_branching=sequential_branching, applications=applications)


def _inputs(model: Any, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-6.0, 6.0, (3, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def _keras_outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    result = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(r) for r in (result if isinstance(result, list | tuple) else [result])]


def _write_tfjs(tfk_model: Any, folder: Path) -> Path:
    """model.json + fp32 shards, with edgeship's own topology and weight writer."""
    written = write_weights(tfjs_weight_entries(tfk_model), folder, Precision.FP32, 4 * 1024 * 1024)
    model_json = {
        "format": "layers-model",
        "generatedBy": "edgeship tests",
        "convertedBy": "edgeship tests",
        "modelTopology": tfjs_topology(tfk_model),
        "weightsManifest": written.manifest,
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
    assert NODE is not None
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


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per tiny model: output names, Keras 3 outputs, tf-keras outputs, TFJS outputs, layer classes."""
    keras.utils.set_random_seed(0)
    results = {}
    for name, build in TINY.items():
        model, labels = build()
        tfk_model = to_tf_keras(model)
        inputs = _inputs(model)
        folder = tmp_path_factory.mktemp(name)
        results[name] = {
            "labels": labels,
            "keras": _keras_outputs(model, inputs),
            "tf_keras": _keras_outputs(tfk_model, inputs),
            "tfjs": _tfjs_predict(_write_tfjs(tfk_model, folder), inputs, folder),
            "classes": sorted({type(layer).__name__ for layer in tfk_model.layers}),
            "tf_keras_model": tfk_model,
        }
    return results


@pytest.mark.parametrize("name", list(TINY))
def test_each_lowering_predicts_in_tfjs_what_keras_does(name: str, tiny_results: dict[str, Any]) -> None:
    result = tiny_results[name]
    diffs = {
        label: float(np.max(np.abs(got - expected)))
        for label, expected, got in zip(result["labels"], result["keras"], result["tfjs"], strict=True)
    }
    print(name, json.dumps(diffs))  # the measured figures, for the record (pytest -s)
    assert {label: d for label, d in diffs.items() if not d <= TOLERANCE} == {}


def test_arithmetic_lowerings_are_exact(tiny_results: dict[str, Any]) -> None:
    """x + c, x - c, c - x, x * c, -x and a - b are bit-identical in float32 (the module docstring says why)."""
    result = tiny_results["arithmetic"]
    exact = {"x + 3", "3 + x", "x - 3", "3 - x", "x * 2", "x * (1/6)", "-x", "x + c", "x * c", "x - c"}
    exact |= {"Subtract layer", "maximum(x, c)", "minimum(x, c)", "maximum(x, 0)"}
    for label, expected, got in zip(result["labels"], result["keras"], result["tf_keras"], strict=True):
        if label in exact:
            np.testing.assert_array_equal(got, expected, err_msg=label)


def test_lowered_models_hold_only_tfjs_layers(tiny_results: dict[str, Any]) -> None:
    assert tiny_results["normalization"]["classes"] == [
        "DepthwiseConv2D",
        "InputLayer",
        "Rescaling",
        "Reshape",
    ]
    assert "Subtract" not in tiny_results["arithmetic"]["classes"]
    assert tiny_results["applications"]["classes"] == [
        "Activation",
        "Add",
        "Conv2D",
        "Dense",
        "DepthwiseConv2D",
        "InputLayer",
        "LayerNormalization",
        "Rescaling",
        "Sequential",
    ]


def test_application_scalings_are_exact_and_gamma_stays_a_parameter(tiny_results: dict[str, Any]) -> None:
    """LayerScale -> 1x1 DepthwiseConv2D without bias, CustomScaleLayer -> Rescaling + Add: bit-identical
    in float32; gamma is trainable in Keras, so its kernel is too."""
    result = tiny_results["applications"]
    for label, expected, got in zip(result["labels"], result["keras"], result["tf_keras"], strict=True):
        if label in ("LayerScale", "CustomScaleLayer"):
            np.testing.assert_array_equal(got, expected, err_msg=label)
    lone = result["tf_keras_model"].get_layer("lone_scale")
    assert (type(lone).__name__, lone.use_bias, lone.trainable) == ("DepthwiseConv2D", False, True)
    assert [w.shape.as_list() for w in lone.trainable_weights] == [[1, 1, 3, 1]]


# --- what cannot be lowered ----------------------------------------------------------------------------------


MEAN_REASON = (
    "no TFJS layers model: keras.ops Mean (mean); tfjs-layers has no layer for it, so the TFJS variants and "
    "QAT are skipped (the TFLite variants are still built); to get them, rebuild the model with keras.layers "
    "that tfjs-layers has."
)


def _mean_model() -> Any:
    keras.backend.clear_session()  # ops layers are named by a global counter: mean, mean_1, ...
    x = keras.Input((8, 8, 1), name="x")
    pooled = ops.mean(layers.Conv2D(2, 3, name="conv")(x), axis=[1, 2])
    return keras.Model(x, layers.Dense(3, activation="softmax", name="probs")(pooled))


def _reciprocal_model() -> Any:
    keras.backend.clear_session()
    x = keras.Input((4,), name="x")
    return keras.Model(x, 1.0 / layers.Dense(2, name="d")(x))


def _recurrent_hard_sigmoid_model() -> Any:
    """Keras 3's hard_sigmoid inside an LSTM cell: passing the name on would give tf-keras' other function."""
    return keras.Sequential(
        [keras.Input((4, 3)), layers.LSTM(2, recurrent_activation="hard_sigmoid", name="memory")]
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (_mean_model, MEAN_REASON),
        (
            _reciprocal_model,
            MEAN_REASON.replace("Mean (mean)", "TrueDivide (true_divide)").replace(
                "has no layer for it", "has no layer that divides by a tensor"
            ),
        ),
        (
            _recurrent_hard_sigmoid_model,
            "no TFJS layers model: LSTM with recurrent_activation=hard_sigmoid (memory); tf-keras and "
            "tfjs-layers have no such activation inside the layer (their hard_sigmoid is another function), "
            "so the TFJS variants and QAT are skipped (the TFLite variants are still built); to get them, "
            "rebuild the model with keras.layers that tfjs-layers has.",
        ),
    ],
    ids=["ops.mean", "constant / tensor", "recurrent hard_sigmoid"],
)
def test_what_cannot_be_lowered_is_named(build: Any, message: str) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        to_tf_keras(build())
    assert str(info.value) == message


def test_a_layer_tf_keras_has_stays_when_it_cannot_be_lowered() -> None:
    """Normalization of a 5-D input: QAT and TFLite keep tf-keras' own; the TFJS topology names it."""
    model = keras.Sequential(
        [keras.Input((2, 2, 2, 3)), layers.Normalization(mean=[1.0, 2, 3], variance=[1.0, 4, 9], name="norm")]
    )
    tfk_model = to_tf_keras(model)
    assert [type(layer).__name__ for layer in tfk_model.layers] == ["Normalization"]
    with pytest.raises(UnsupportedModelError) as info:
        tfjs_topology(tfk_model)
    assert str(info.value) == (
        "no TFJS layers model: Normalization (norm); @tensorflow/tfjs 4.22 has no such layer; rebuild the "
        "model with layers TFJS supports, or use the TFLite variants."
    )


def test_a_grouped_conv2d_that_is_not_depthwise_is_named() -> None:
    """groups=2 of 4 channels: tf-keras keeps the grouped Conv2D (QAT, TFLite); TFJS has none."""
    model = keras.Sequential([keras.Input((8, 8, 4)), layers.Conv2D(4, 3, groups=2, name="grouped")])
    tfk_model = to_tf_keras(model)
    assert [(type(layer).__name__, layer.groups) for layer in tfk_model.layers] == [("Conv2D", 2)]
    with pytest.raises(UnsupportedModelError) as info:
        tfjs_topology(tfk_model)
    assert str(info.value) == (
        "no TFJS layers model: Conv2D with groups=2 (grouped); TFJS has no grouped convolution; use "
        "DepthwiseConv2D or groups=1, or use the TFLite variants."
    )


def test_tflite_is_still_built_when_tfjs_cannot_be(tmp_path: Path) -> None:
    from exporter.pipeline import ExportOptions, export

    result = export(
        ExportOptions(model=_mean_model(), out=tmp_path / "out", targets=["tflite", "tfjs"], quiet=True)
    )
    skipped = result.manifest["skipped"]
    assert {variant: skipped[variant] for variant in ("tfjs-fp32", "tfjs-fp16", "tfjs-int8")} == {
        "tfjs-fp32": MEAN_REASON,
        "tfjs-fp16": MEAN_REASON,
        "tfjs-int8": MEAN_REASON,
    }
    assert {"tflite-fp32", "tflite-fp16", "tflite-dynamic-int8"} <= set(result.manifest["variants"])


# --- keras.applications through the CLI ------------------------------------------------------------------------


def _randomise_batch_norm(model: Any, seed: int) -> None:
    """Fresh BN layers are identities and weights=None models output near-constant probabilities; random
    statistics make every lowering's mistake visible in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            draws = {"gamma": (0.5, 1.5), "beta": (-0.5, 0.5), "moving_mean": (-0.5, 0.5)}
            draws["moving_variance"] = (0.5, 2.0)
            layer.set_weights([rng.uniform(*draws[w.name], w.shape) for w in layer.weights])


@pytest.mark.parametrize(
    ("family", "variants"),
    [("MobileNetV3Small", "tfjs-fp32,tfjs-fp16,tfjs-int8"), ("EfficientNetB0", "tfjs-fp32")],
)
def test_keras_applications_get_tfjs_variants(tmp_path: Path, family: str, variants: str) -> None:
    model = getattr(keras.applications, family)(weights=None, input_shape=(32, 32, 3), classes=10)
    _randomise_batch_norm(model, seed=7)
    path = tmp_path / f"{family}.keras"
    model.save(path)
    out = tmp_path / "out"
    done = subprocess.run(
        [EDGESHIP, "export", str(path), "--out", str(out), "--targets", "tfjs", "--variants", variants],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["variants"]) == sorted(variants.split(","))
    assert manifest["skipped"] == {}
    fixture = json.loads((out / manifest["variants"]["tfjs-fp32"]["parity"]).read_text())
    inputs = decode_array(fixture["inputs"])
    reloaded = keras.saving.load_model(path, safe_mode=True)
    expected = np.asarray(reloaded(inputs, training=False))
    got = _tfjs_predict(out / manifest["variants"]["tfjs-fp32"]["entry"], [inputs], tmp_path)[0]
    diff = float(np.max(np.abs(got - expected)))
    print(family, "tfjs-fp32 vs Keras 3 max abs diff", diff)
    assert diff <= TOLERANCE
