"""keras.applications' own scaling layers: ConvNeXt's `LayerScale`, InceptionResNetV2's `CustomScaleLayer`.

Neither is in `keras.layers` (they live in `keras.src.applications.convnext` and `.inception_resnet_v2`,
which `exporter.safe_mode` allows by their exact module and name), so neither tf-keras' nor tfjs-layers'
loader knows them; both are a multiply, and both become layers the two have, in IEEE float32 bit-identical:

- `LayerScale(x) = x * gamma` (one trainable factor per channel, on the last axis) -> a 1x1
  `DepthwiseConv2D` without bias whose kernel is gamma: one multiply per value, the same one. Its kernel
  stays trainable, as gamma is (fine-tuning and QAT may move it, as they would have moved gamma).
- `CustomScaleLayer([a, b]) = a + b * scale` (a constant) -> `Add([a, Rescaling(scale)(b)])`; Rescaling's
  `b * scale + 0` is `b * scale`.
"""

from __future__ import annotations

import numpy as np

from exporter.keras_config import Config, entry_name
from exporter.lowering.arithmetic import rescaling
from exporter.lowering.graph import (
    Call,
    LoweringContext,
    channel_scale,
    input_shape,
    is_ref,
    is_scalar,
    layer,
    no_tfjs_layers,
    out,
)


def lower_layer_scale(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    source = context.layer(name)
    gamma = np.asarray(source.gamma, np.float32).reshape(-1)
    shape = input_shape(entry, call)
    if shape is None or len(shape) != 4 or shape[-1] != gamma.size:
        raise no_tfjs_layers(
            "LayerScale", name, f"only a LayerScale on a 4-D input can be rewritten (input {shape})"
        )
    if call is not None and (len(call.args) != 1 or not is_ref(call.args[0])):
        raise no_tfjs_layers("LayerScale", name, "it is not called on a single tensor")
    depthwise = channel_scale(use_bias=False, trainable=bool(source.trainable))
    context.weights[name] = [gamma.reshape(1, 1, gamma.size, 1)]
    if source.trainable:
        context.trainable.add(name)
    return [layer("DepthwiseConv2D", name, depthwise, call.args[0] if call is not None else None)]


def lower_custom_scale(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    scale = entry["config"].get("scale")
    if call is None or len(call.args) != 2 or not all(is_ref(arg) for arg in call.args):
        raise no_tfjs_layers(
            "CustomScaleLayer", name, "it is not called on two tensors of a functional model"
        )
    if not is_scalar(scale):
        raise no_tfjs_layers("CustomScaleLayer", name, f"its scale {scale!r} is not a single number")
    residual, branch = call.args
    scaled = context.fresh(f"{name}_scaled")
    return [rescaling(scaled, float(scale), 0.0, branch), layer("Add", name, {}, [residual, out(scaled)])]
