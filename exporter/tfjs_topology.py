"""The TFJS layers-format view of a tf-keras model: its `modelTopology` and its weights by tfjs name.

tf-keras' own `to_json()` is almost what @tensorflow/tfjs 4.22 reads; the differences found by loading real
exports in tfjs are fixed here, and what tfjs cannot express (unregistered layers, unknown activations,
arguments it would silently ignore) is refused with a message that says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from exporter.errors import UnsupportedModelError
from exporter.keras_config import NESTED_LAYER_KEYS, SERIALISATION_KEYS, Config, entry_name, short_name

# Layer classes that @tensorflow/tfjs 4.22 registers (read from its SerializationMap). A class outside this
# set makes `loadLayersModel` fail with "Unknown layer", so it is refused here, with a message that says why.
_TFJS_LAYERS = frozenset(
    " ".join(
        (
            "Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D",
            "BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D",
            "Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM2D Cropping2D Dense DepthwiseConv2D Dot Dropout",
            "ELU Embedding Flatten Functional GRU GaussianDropout GaussianNoise GlobalAveragePooling1D",
            "GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D InputLayer LSTM LayerNormalization",
            "LeakyReLU Masking MaxPooling1D MaxPooling2D MaxPooling3D Maximum Minimum Model Multiply PReLU",
            "Permute RNN RandomWidth ReLU RepeatVector Rescaling Reshape Resizing SeparableConv2D Sequential",
            "SimpleRNN Softmax SpatialDropout1D ThresholdedReLU TimeDistributed UpSampling2D ZeroPadding2D",
        )
    ).split()
)


# Activation names tfjs-layers 4.22 knows, after it camel-cases the Python name (hard_sigmoid -> hardSigmoid).
_TFJS_ACTIVATIONS = frozenset(
    {"elu", "gelu", "gelu_new", "hard_sigmoid", "linear", "log_softmax", "mish", "relu", "relu6", "selu"}
    | {"sigmoid", "softmax", "softplus", "softsign", "swish", "tanh"}
)


_TFJS_ACTIVATION_ALIASES = {"silu": "swish"}  # same function, a name tfjs-layers lacks


# Arguments tf-keras writes but never uses that tfjs-layers refuses outright ("Fields kernelInitializer,
# kernelRegularizer and kernelConstraint are invalid for SeparableConv2D").
_TFJS_DROPPED_ARGUMENTS = {
    "SeparableConv2D": ("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
}


def tfjs_topology(tfk_model: Any) -> Config:
    """The `modelTopology` of a TFJS layers model.json, in the form @tensorflow/tfjs 4.22 loads.

    Raises UnsupportedModelError for a layer class, activation or ReLU setting that tfjs-layers lacks (it
    would otherwise fail to load, or silently compute something else).
    """
    import tf_keras

    raw = json.loads(tfk_model.to_json())
    entry = _tfjs_entry(raw)
    return {**entry, "keras_version": tf_keras.__version__, "backend": "tensorflow"}


def _tfjs_entry(entry: Config) -> Config:
    class_name = entry["class_name"]
    cfg = entry["config"]
    name = entry_name(entry)
    if class_name not in _TFJS_LAYERS:
        raise UnsupportedModelError(
            f"no TFJS layers model: {class_name} ({name}); @tensorflow/tfjs 4.22 has no such layer; rebuild "
            "the model with layers TFJS supports, or use the TFLite variants."
        )
    out: Config = {"class_name": class_name, "config": _tfjs_config(name, class_name, cfg)}
    for key in ("name", "inbound_nodes"):
        if key in entry:
            out[key] = entry[key]
    return out


def _tfjs_config(name: str, class_name: str, cfg: Config) -> Config:
    out: Config = {}
    dropped = _TFJS_DROPPED_ARGUMENTS.get(class_name, ())
    for key, value in cfg.items():
        if key in SERIALISATION_KEYS or key in dropped:
            continue
        if key == "layers" and isinstance(value, list):
            out[key] = [_tfjs_entry(layer) for layer in value]
        elif key in NESTED_LAYER_KEYS and isinstance(value, dict) and "class_name" in value:
            out[key] = _tfjs_entry(value)
        elif key == "activation" and isinstance(value, str):
            out[key] = _tfjs_activation(name, value)
        elif key.endswith("_regularizer") and isinstance(value, dict):
            out[key] = _tfjs_regularizer(value)
        elif isinstance(value, dict) and "class_name" in value:
            out[key] = {"class_name": value["class_name"], "config": value.get("config", {})}
        else:
            out[key] = value
    if class_name == "ReLU" and (out.get("negative_slope") or out.get("threshold")):
        # tfjs-layers' ReLU reads only max_value: a slope or threshold would be silently ignored.
        raise UnsupportedModelError(
            f"no TFJS layers model: ReLU ({name}); it sets negative_slope or threshold, which TFJS ignores; "
            "use LeakyReLU or a plain ReLU, or use the TFLite variants."
        )
    if class_name.startswith("Global") and out.get("keepdims"):
        # tfjs-layers' global poolings have no keepdims: they would return (batch, channels) and the next
        # layer would fail to load. Keras 3 models get a Reshape instead (exporter/lowering/pooling.py).
        raise UnsupportedModelError(
            f"no TFJS layers model: {class_name} ({name}); it sets keepdims=True, which TFJS ignores; follow "
            "the pooling with a Reshape, or use the TFLite variants."
        )
    if class_name.startswith("Conv") and isinstance(out.get("groups"), int) and out["groups"] > 1:
        # tfjs-layers has no grouped convolution: it would build a full kernel and fail to load the weights.
        # Keras 3 depthwise ones (groups == channels) become DepthwiseConv2D (exporter/lowering/convolution).
        raise UnsupportedModelError(
            f"no TFJS layers model: {class_name} with groups={out['groups']} ({name}); TFJS has no grouped "
            "convolution; use DepthwiseConv2D or groups=1, or use the TFLite variants."
        )
    if class_name == "Rescaling" and any(isinstance(out.get(k), list) for k in ("scale", "offset")):
        # tfjs-layers' Rescaling is documented for scalars only (Keras 3 models get a 1x1 DepthwiseConv2D).
        raise UnsupportedModelError(
            f"no TFJS layers model: Rescaling ({name}); it has a scale or offset per channel, which TFJS "
            "does not take; use scalars, or use the TFLite variants."
        )
    if class_name == "GRU" and out.get("reset_after"):
        # tfjs-layers' GRUCell refuses to load it ("does not support reset_after parameter set to true").
        raise UnsupportedModelError(
            f"no TFJS layers model: GRU ({name}); it sets reset_after=True (the Keras default), which TFJS "
            "does not implement; build the GRU with reset_after=False, or use the TFLite variants."
        )
    if class_name == "InputLayer" and out.pop("optional", False):
        # tf-keras 2.21 writes InputLayer's `optional` (2.19 did not). tfjs-layers neither reads nor saves it,
        # so a model fine-tuned in the browser comes back without it (tests/test_tfjs_resave.py): it is left
        # out here too, and an optional input, which tfjs cannot leave unfed, is refused.
        raise UnsupportedModelError(
            f"no TFJS layers model: InputLayer ({name}); it is an optional input, which TFJS cannot express; "
            "make the input required, or use the TFLite variants."
        )
    return out


def _tfjs_activation(layer_name: str, activation: str) -> str:
    activation = _TFJS_ACTIVATION_ALIASES.get(activation, activation)
    if activation not in _TFJS_ACTIVATIONS:
        raise UnsupportedModelError(
            f"no TFJS layers model: activation {activation} ({layer_name}); TFJS (@tensorflow/tfjs 4.22) "
            "does not have it; use another activation, or use the TFLite variants."
        )
    return activation


def _tfjs_regularizer(value: Config) -> Config:
    """tfjs-layers registers only L1L2, tf-keras writes L1 and L2 too; regularizers never change outputs."""
    config = value.get("config", {})
    if value.get("class_name") in ("L1", "L2"):
        return {"class_name": "L1L2", "config": {"l1": config.get("l1", 0.0), "l2": config.get("l2", 0.0)}}
    return {"class_name": value.get("class_name"), "config": config}


def tfjs_weight_entries(tfk_model: Any) -> list[tuple[str, np.ndarray]]:
    """(name, array) per weight, as the tensorflowjs converter names them and tfjs' loadWeights matches them.

    Layers in model order, nested models flattened in place, each layer's weights in its own order (trainable
    first); names are the tf-keras variable names without `:0` (`conv2d/kernel`, `bn/moving_mean`), which is
    what tfjs calls each weight's `originalName`. Float weights become float32, integer ones int32.
    """
    entries: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for layer in _leaf_layers(tfk_model):
        for weight in layer.weights:
            name = _tfjs_weight_name(layer.name, weight.name)
            if name in seen:
                raise UnsupportedModelError(
                    f"two weights are both named '{name}', which TFJS refuses to load; give every layer "
                    "(nested models included) a unique name and save the model again."
                )
            seen.add(name)
            entries.append((name, _tfjs_array(name, weight.numpy())))
    return entries


def set_weights_by_tfjs_name(model: Any, weights: Mapping[str, np.ndarray]) -> None:
    """Set every weight of `model` from `weights`, keyed by the names `tfjs_weight_entries` gives.

    By name, layer by layer: the result does not depend on any list order (a tfjs save, for one, lists all
    trainable weights before the non-trainable ones). Used for decoded TFJS weights and fine-tuned uploads.
    """
    names = iter(name for name, _ in tfjs_weight_entries(model))
    for layer in _leaf_layers(model):
        layer.set_weights([weights[next(names)] for _ in layer.weights])


def _leaf_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _tfjs_weight_name(layer_name: str, variable_name: str) -> str:
    name = variable_name.removesuffix(":0")
    # tfjs scopes a weight under its layer's name; a variable created under an outer scope loses that prefix.
    if name.startswith(layer_name + "/"):
        return name
    return f"{layer_name}/{short_name(name)}"


def _tfjs_array(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    raise UnsupportedModelError(
        f"weight '{name}' has dtype {array.dtype}, which TFJS weight files cannot hold; "
        "export TFLite variants only."
    )
