"""Grouped `Conv2D` (`groups > 1`), which tfjs-layers 4.22 lacks: ConvNeXt's depthwise convolutions.

tfjs-layers' Conv2D has no `groups` argument: it ignores it and builds a full kernel, so the model fails to
load ("Shape mismatch: [7,7,96,96] vs. [7,7,1,96]"). When every input channel is its own group
(`groups == channels`, as ConvNeXt's `Conv2D(C, 7, groups=C)`), the layer is a depthwise convolution:
filter `f = c * m + j` (`m = filters / groups`) sees only channel `c`, exactly as `DepthwiseConv2D`'s
output `c * m + j` with `depth_multiplier=m`, so the kernel `(kh, kw, 1, C * m)` is the depthwise kernel
`(kh, kw, C, m)` reshaped, and the bias is the same. The same products are summed over the same window;
only the order of the float32 additions may differ (measured <= 1e-6). Other group counts stay grouped
Conv2D layers (tf-keras has them, so QAT and TFLite keep them) and `exporter.tfjs_topology` names them as
the reason the TFJS variants are skipped.
"""

from __future__ import annotations

import numpy as np

from exporter.keras_config import Config, entry_name
from exporter.lowering.graph import Call, LoweringContext, input_shape, is_ref, layer, no_tfjs_layers

# Conv2D argument -> DepthwiseConv2D argument (the rest keep their names)
_RENAMED = {
    "kernel_initializer": "depthwise_initializer",
    "kernel_regularizer": "depthwise_regularizer",
    "kernel_constraint": "depthwise_constraint",
}
_KEPT = (
    "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias", "data_format",
    "bias_initializer", "bias_regularizer", "bias_constraint", "activity_regularizer", "trainable",
)  # fmt: skip


def is_grouped(entry: Config) -> bool:
    groups = (entry.get("config") or {}).get("groups", 1)
    return isinstance(groups, int) and groups > 1


def lower_grouped_conv(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    cfg = entry["config"]
    groups, filters = cfg["groups"], cfg.get("filters")
    shape = input_shape(entry, call)
    channels = shape[-1] if shape and len(shape) == 4 else None
    if (
        channels != groups
        or not isinstance(filters, int)
        or filters % groups
        or cfg.get("data_format", "channels_last") not in (None, "channels_last")
    ):
        raise no_tfjs_layers(
            f"Conv2D with groups={groups}",
            name,
            "tfjs-layers has no grouped convolution, and only one group per input channel (a depthwise "
            "convolution) can be rewritten",
        )
    if call is not None and (len(call.args) != 1 or not is_ref(call.args[0])):
        raise no_tfjs_layers("Conv2D", name, "it is not called on a single tensor")
    source = context.layer(name)
    kernel = np.asarray(source.kernel, np.float32)
    depthwise = {_RENAMED.get(key, key): cfg[key] for key in (*_KEPT, *_RENAMED) if key in cfg}
    depthwise["depth_multiplier"] = filters // groups
    weights = [kernel.reshape(*kernel.shape[:2], groups, filters // groups)]
    if cfg.get("use_bias", True):
        weights.append(np.asarray(source.bias, np.float32))
    context.weights[name] = weights
    if source.trainable:
        context.trainable.add(name)
    return [layer("DepthwiseConv2D", name, depthwise, call.args[0] if call is not None else None)]
