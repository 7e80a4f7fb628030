"""Per-channel affine layers tfjs-layers lacks: `Normalization`, and `Rescaling` with per-channel values.

Both compute `x * k[c] + b[c]` on the last axis: Normalization has `k = 1 / max(sqrt(var), eps)` and
`b = -mean * k` (`mean + x * std` when inverted), Rescaling has `k = scale`, `b = offset`. tfjs-layers'
Rescaling takes scalars only, so a per-channel one becomes a 1x1 `DepthwiseConv2D` with a bias: one multiply
and one add per value, the same arithmetic as Rescaling (bit-identical) and, for Normalization, within a
few units in the last place of `(x - mean) / std` (`k` and `b` are rounded once each; measured <= 1e-6 on
0..255 inputs). A 2-D or 3-D input is reshaped to 4-D around it. When every channel has the same values,
or the statistics are global (`axis=None`), a scalar `Rescaling(k, b)` does it.

The layer is marked non-trainable, like the statistics it replaces, so neither QAT nor fine-tuning in the
browser moves the input normalization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.keras_config import Config, entry_name
from exporter.lowering.arithmetic import rescaling
from exporter.lowering.graph import (
    Call,
    LoweringContext,
    Ref,
    channel_scale,
    is_ref,
    layer,
    no_tfjs_layers,
    out,
)


def lower_normalization(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    import keras

    name = entry_name(entry)
    source = context.layer(name)
    mean = np.asarray(source.mean, np.float32).reshape(-1)
    variance = np.asarray(source.variance, np.float32).reshape(-1)
    std = np.maximum(np.sqrt(variance), np.float32(keras.config.epsilon())).astype(np.float64)
    if entry["config"].get("invert"):
        kernel, bias = std, mean.astype(np.float64)
    else:
        kernel = 1.0 / std
        bias = -mean.astype(np.float64) * kernel
    axis = entry["config"].get("axis")
    return _affine(entry, call, context, kernel, bias, axis is None)


def lower_rescaling(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    cfg = entry["config"]
    scale, offset = (
        np.asarray(cfg.get("scale", 1.0), np.float64),
        np.asarray(cfg.get("offset", 0.0), np.float64),
    )
    if scale.size == 1 and offset.size == 1:
        return [entry]  # tfjs-layers has it as it is
    return _affine(entry, call, context, scale.reshape(-1), offset.reshape(-1), False)


def _affine(
    entry: Config, call: Call | None, context: LoweringContext, kernel: Any, bias: Any, global_stats: bool
) -> list[Config]:
    name = entry_name(entry)
    source = _source(entry, call)
    if global_stats or (np.all(kernel == kernel.flat[0]) and np.all(bias == bias.flat[0])):
        lowered = rescaling(name, float(kernel.flat[0]), float(bias.flat[0]), source)
        lowered["config"]["trainable"] = False
        context.weights[name] = []  # the statistics are in its config now
        return [lowered]
    shape = _input_shape(entry, call)
    channels = shape[-1] if shape else None
    axis = entry["config"].get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis or [])
    if (
        shape is None
        or channels is None
        or len(axes) != 1
        or axes[0] not in (-1, len(shape) - 1)
        or len(shape) not in (2, 3, 4)
        or any(d is None for d in shape[1:])
    ):
        raise no_tfjs_layers(
            entry["class_name"],
            name,
            f"only a last-axis affine on a 2-D to 4-D input of known size can be rewritten (input {shape})",
        )
    kernel = np.broadcast_to(kernel, (channels,)).astype(np.float32)
    bias = np.broadcast_to(bias, (channels,)).astype(np.float32)
    depthwise = channel_scale(use_bias=True, trainable=False)
    weights = [kernel.reshape(1, 1, channels, 1), bias]
    if len(shape) == 4:
        context.weights[name] = weights
        return [layer("DepthwiseConv2D", name, depthwise, source)]
    image, affine = context.fresh(f"{name}_as_image"), context.fresh(f"{name}_affine")
    context.weights[affine] = weights
    context.weights[name] = []  # the Reshape that keeps the name holds none of the statistics
    as_image = [1, 1, channels] if len(shape) == 2 else [shape[1], 1, channels]
    link = (lambda ref: ref) if source is not None else (lambda ref: None)
    return [
        layer("Reshape", image, {"target_shape": as_image}, source),
        layer("DepthwiseConv2D", affine, depthwise, link(out(image))),
        layer("Reshape", name, {"target_shape": list(shape[1:])}, link(out(affine))),
    ]


def _source(entry: Config, call: Call | None) -> Ref | None:
    if call is None:
        return None
    if len(call.args) != 1 or not is_ref(call.args[0]):
        raise no_tfjs_layers(entry["class_name"], entry_name(entry), "it is not called on a single tensor")
    ref: Ref = call.args[0]
    return ref


def _input_shape(entry: Config, call: Call | None) -> list[int | None] | None:
    if call is not None and call.shapes:
        shape = next(iter(call.shapes.values()))
        if shape is not None:
            return list(shape)
    build = entry.get("build_config") or {}
    shape = build.get("input_shape")
    return list(shape) if isinstance(shape, list | tuple) else None
