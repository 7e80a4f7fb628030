"""Fold inference-mode BatchNormalization layers into the layer before them.

The TFLite converter folds batch norm on its own; a TFJS layers model runs every BatchNormalization as
separate ops, so the exporter folds them before writing inference variants.

In inference mode a BatchNormalization computes, per output channel c,

    y_c = gamma_c * (x_c - moving_mean_c) / sqrt(moving_variance_c + epsilon) + beta_c
        = scale_c * x_c + (beta_c - moving_mean_c * scale_c)
    scale_c = gamma_c / sqrt(moving_variance_c + epsilon)

(gamma = 1 when the layer has `scale=False`, beta = 0 when it has `center=False`). When x = W * input + b
comes from a linear Conv2D / DepthwiseConv2D / SeparableConv2D / Dense, the two collapse into one layer with

    W'[..., c] = W[..., c] * scale_c
    b'_c       = (b_c - moving_mean_c) * scale_c + beta_c        (b = 0 when the layer had no bias)

Where output channel c lives in the kernel:
    Conv2D (kh, kw, in/groups, filters), Dense (in, units): the last axis.
    DepthwiseConv2D (kh, kw, in, depth_multiplier): channel c = i * depth_multiplier + m sits at [:, :, i, m],
        so scale is reshaped to (in, depth_multiplier).
    SeparableConv2D: its pointwise kernel (1, 1, in * depth_multiplier, filters), last axis; the depthwise
        kernel is kept as it is.

The arithmetic is done in float64 and cast back to the variable's dtype (float32 for an ordinary model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tf_keras

from exporter.errors import UnsupportedModelError

# Layer class -> the attribute holding the kernel whose last axes are the output channels.
_KERNEL_ATTR = {
    "Conv2D": "kernel",
    "Dense": "kernel",
    "DepthwiseConv2D": "depthwise_kernel",
    "SeparableConv2D": "pointwise_kernel",
}

Config = dict[str, Any]


@dataclass(frozen=True)
class _Fold:
    """One BatchNormalization to remove and the layer that absorbs it."""

    bn: str
    target: str
    # Functional models only: the tensor the BN read, [layer, node_index, tensor_index]; consumers of the BN
    # are pointed at it.
    source: tuple[str, int, int] | None = None


def fold_batchnorm(model: tf_keras.Model) -> tuple[tf_keras.Model, int]:
    """Return a new model with every foldable BatchNormalization folded away, and how many were folded.

    A BatchNormalization is folded when it directly follows a Conv2D (channels_last), DepthwiseConv2D
    (channels_last), SeparableConv2D (channels_last) or Dense whose activation is linear, that layer is used
    once and its output feeds only the BN (it is not also a model output), the BN normalises only the last
    axis, is used once, and runs in inference mode (no renorm, no virtual batches, not called with
    training=True). Any other BN is kept as it is. The input model is not modified; every layer that stays
    keeps its name and weights; folded layers get `use_bias=True`.

    Raises UnsupportedModelError for a subclassed model, whose structure has no config to rewrite.
    """
    if not getattr(model, "_is_graph_network", False):
        raise UnsupportedModelError(
            f"Cannot fold batch norm in subclassed model '{model.name}': rebuild it as a Sequential or "
            "functional tf-keras model."
        )
    config = model.get_config()
    sequential = isinstance(model, tf_keras.Sequential)
    folds = _sequential_folds(model, config) if sequential else _functional_folds(model, config)
    _rewrite_config(config, folds, sequential)

    # Unregistered custom layers resolve by their class name; registered ones resolve through the registry.
    custom_objects = {type(layer).__name__: type(layer) for layer in model.layers}
    with tf_keras.utils.custom_object_scope(custom_objects):
        rebuilt = (tf_keras.Sequential if sequential else tf_keras.Model).from_config(config)
    _copy_weights(model, rebuilt, folds)
    return rebuilt, len(folds)


# ---------------------------------------------------------------------------------------------------------
# Finding what to fold


def _sequential_folds(model: tf_keras.Model, config: Config) -> list[_Fold]:
    names = [layer["config"]["name"] for layer in config["layers"]]
    folds = []
    for before, after in zip(config["layers"], config["layers"][1:], strict=False):
        pair = before["config"]["name"], after["config"]["name"]
        # A layer listed twice would be one shared layer in the original but two copies after from_config.
        if all(names.count(name) == 1 for name in pair) and _pair_foldable(model, before, after):
            folds.append(_Fold(bn=pair[1], target=pair[0]))
    return folds


def _functional_folds(model: tf_keras.Model, config: Config) -> list[_Fold]:
    layers = {layer["name"]: layer for layer in config["layers"]}
    everything = [layer["inbound_nodes"] for layer in config["layers"]] + [config["output_layers"]]
    folds = []
    for name, layer in layers.items():
        nodes = layer["inbound_nodes"]
        if layer["class_name"] != "BatchNormalization" or len(nodes) != 1:
            continue
        refs = _tensor_refs(nodes[0])
        if len(refs) != 1 or _called_in_training(refs[0]):
            continue
        source, node_index, tensor_index = refs[0][0], refs[0][1], refs[0][2]
        # The source must be used once (one inbound node) and read by nothing but this BN.
        if len(layers[source]["inbound_nodes"]) != 1 or len(_tensor_refs(everything, source)) != 1:
            continue
        if _pair_foldable(model, layers[source], layer):
            folds.append(_Fold(bn=name, target=source, source=(source, node_index, tensor_index)))
    return folds


def _pair_foldable(model: tf_keras.Model, before: Config, after: Config) -> bool:
    """Whether layer config `after` is an inference BN that the layer of config `before` can absorb."""
    # Class names, not isinstance: a subclass may change what the layer computes.
    kind = before["class_name"]
    if after["class_name"] != "BatchNormalization" or kind not in _KERNEL_ATTR:
        return False
    layer, bn = model.get_layer(before["config"]["name"]), model.get_layer(after["config"]["name"])
    if not (layer.built and bn.built) or layer.activation is not tf_keras.activations.linear:
        return False
    # A channels_first conv puts channels on axis 1, where a last-axis BN would not be per channel.
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return False
    if bn.renorm or bn.virtual_batch_size is not None or len(bn.axis) != 1:
        return False
    rank = bn.input_spec.ndim
    if bn.axis[0] not in (-1, rank - 1):
        return False
    return _output_channels(kind, getattr(layer, _KERNEL_ATTR[kind]).shape) == bn.moving_mean.shape[0]


def _output_channels(kind: str, kernel_shape: Any) -> int:
    if kind == "DepthwiseConv2D":
        return int(kernel_shape[-2]) * int(kernel_shape[-1])
    return int(kernel_shape[-1])


def _is_ref(item: Any) -> bool:
    """A serialised tensor reference: [layer_name, node_index, tensor_index] with an optional kwargs dict."""
    return (
        isinstance(item, list)
        and len(item) in (3, 4)
        and isinstance(item[0], str)
        and isinstance(item[1], int)
        and isinstance(item[2], int)
        and (len(item) == 3 or isinstance(item[3], dict))
    )


def _tensor_refs(data: Any, layer_name: str | None = None) -> list[list[Any]]:
    """Every tensor reference inside nested node data (also those inside call kwargs), optionally by layer."""
    found: list[list[Any]] = []

    def visit(item: Any) -> Any:
        if _is_ref(item) and (layer_name is None or item[0] == layer_name):
            found.append(item)
        return item

    _walk(data, visit)
    return found


def _called_in_training(ref: list[Any]) -> bool:
    # A BN called with training=True uses batch statistics even at inference, so its moving ones do not apply.
    return len(ref) == 4 and bool(ref[3].get("training", False))


# ---------------------------------------------------------------------------------------------------------
# Rewriting the config


def _walk(data: Any, visit: Callable[[Any], Any]) -> Any:
    """Apply `visit` to every list and dict in `data`, outermost first, rebuilding the structure."""
    data = visit(data)
    if isinstance(data, list):
        return [_walk(item, visit) for item in data]
    if isinstance(data, dict):
        return {key: _walk(value, visit) for key, value in data.items()}
    return data


def _rewrite_config(config: Config, folds: list[_Fold], sequential: bool) -> None:
    dropped = {fold.bn for fold in folds}
    targets = {fold.target for fold in folds}
    if sequential:
        config["layers"] = [layer for layer in config["layers"] if layer["config"]["name"] not in dropped]
    else:
        config["layers"] = [layer for layer in config["layers"] if layer["name"] not in dropped]
        # Whatever read the BN's output (other layers or the model's outputs) now reads the folded layer.
        redirect = {fold.bn: fold.source for fold in folds if fold.source is not None}
        for layer in config["layers"]:
            layer["inbound_nodes"] = _redirect(layer["inbound_nodes"], redirect)
        config["output_layers"] = _redirect(config["output_layers"], redirect)
    for layer in config["layers"]:
        if layer["config"]["name"] in targets:
            layer["config"]["use_bias"] = True


def _redirect(data: Any, redirect: dict[str, tuple[str, int, int]]) -> Any:
    def visit(item: Any) -> Any:
        if _is_ref(item) and item[0] in redirect:
            return [*redirect[item[0]], *item[3:]]
        return item

    return _walk(data, visit)


# ---------------------------------------------------------------------------------------------------------
# Weights


def _copy_weights(source: tf_keras.Model, rebuilt: tf_keras.Model, folds: list[_Fold]) -> None:
    bn_of = {fold.target: fold.bn for fold in folds}
    for layer in rebuilt.layers:
        old = source.get_layer(layer.name)
        if layer.name in bn_of:
            layer.set_weights(_folded_weights(old, source.get_layer(bn_of[layer.name]), layer))
        elif old.weights:
            layer.set_weights(old.get_weights())


def _folded_weights(old: Any, bn: Any, new: Any) -> list[np.ndarray]:
    """The new layer's weights in its own order: folded kernel and bias, anything else copied."""
    kind = type(old).__name__
    attr = _KERNEL_ATTR[kind]
    kernel_var = getattr(old, attr)
    kernel = kernel_var.numpy().astype(np.float64)
    channels = _output_channels(kind, kernel.shape)
    bias = old.bias.numpy().astype(np.float64) if old.bias is not None else np.zeros(channels)

    scale, shift = _bn_affine(bn)
    if kind == "DepthwiseConv2D":
        # Output channel i * depth_multiplier + m comes from kernel[:, :, i, m] (see the module docstring).
        kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        kernel = kernel * scale
    dtype = kernel_var.dtype.as_numpy_dtype
    folded = {attr: kernel.astype(dtype), "bias": (bias * scale + shift).astype(dtype)}

    # Any other weight (the depthwise kernel of a SeparableConv2D) is copied unchanged.
    others = iter(w.numpy() for w in old.weights if w is not kernel_var and w is not old.bias)
    values = []
    for weight in new.weights:
        name = next((key for key in folded if getattr(new, key) is weight), None)
        values.append(folded[name] if name is not None else next(others))
    return values


def _bn_affine(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inference BN as y = scale * x + shift in float64.

    scale = gamma / sqrt(moving_variance + epsilon), shift = beta - moving_mean * scale.
    """
    mean = bn.moving_mean.numpy().astype(np.float64)
    variance = bn.moving_variance.numpy().astype(np.float64)
    gamma = bn.gamma.numpy().astype(np.float64) if bn.scale else np.ones_like(mean)
    beta = bn.beta.numpy().astype(np.float64) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return scale, beta - mean * scale
