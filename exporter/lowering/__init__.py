"""Lowering: Keras 3 graph pieces that tf-keras or tfjs-layers lack, rewritten as layers both have.

Why here, at the Keras 3 config, and not in the TFJS topology: the lowered graph is what `to_tf_keras`
rebuilds, so the one tf-keras model that every Keras-based variant starts from (BN folding, QAT, TFJS, and
the TFLite variants, which are converted from it) holds only layers tfjs-layers has, and its weights are
set once, consistently, by `exporter.keras_compat`. Rewriting the TFJS topology alone would leave QAT and
BN folding blind to it and need a second weight mapping. Every lowering computes the same function in
float32 (bit-identical, or within a few units in the last place where a division becomes a multiply; each
module says which), and keeps the replaced layer's name on the layer whose output stands for it, so the
rest of the graph, the weights and the report's layer names are unchanged. Helper layers get fresh names
derived from it (`<name>_plus3`, `<name>_negated`, ...).

One module per op family (`arithmetic`, `activations`, `normalization`, `pooling`, `scaling`,
`convolution`); `DISPATCH`
maps a layer to its lowering by the Keras 3 class name (`ops.<Class>` for keras.ops calls,
`applications.<Class>` for the layers keras.applications defines itself, `layers.<Class>` for layers). A
keras.ops call without a lowering, or one whose lowering cannot apply, raises UnsupportedModelError starting
"no TFJS layers model: <op> (<layer name>)": the pipeline skips the TFJS variants and QAT with that reason
and still builds the TFLite variants from the Keras 3 model. A layer tf-keras has with the same math
(Normalization on a 5-D input, a shared Subtract, ...) is left as it is when its lowering cannot apply:
QAT and TFLite still get the tf-keras model, and `exporter.tfjs_topology` names it as the reason the TFJS
variants are skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.errors import UnsupportedModelError
from exporter.keras_config import Config, entry_name
from exporter.lowering.activations import (
    ACTIVATIONS,
    OPS_ACTIVATIONS,
    branches,
    has_inline_activation,
    lower_activation_layer,
    lower_inline_activation,
    lower_ops_activation,
)
from exporter.lowering.arithmetic import (
    lower_add,
    lower_extremum,
    lower_multiply,
    lower_negative,
    lower_subtract,
    lower_subtract_layer,
    lower_true_divide,
)
from exporter.lowering.convolution import is_grouped, lower_grouped_conv
from exporter.lowering.graph import Call, LoweringContext, as_functional, no_tfjs_layers, single_call
from exporter.lowering.normalization import lower_normalization, lower_rescaling
from exporter.lowering.pooling import POOLINGS, keeps_dims, lower_global_pooling
from exporter.lowering.scaling import lower_custom_scale, lower_layer_scale

__all__ = ["DISPATCH", "LoweringContext", "lower_layers", "no_tfjs_layers", "outermost"]

Lowering = Callable[[Config, Call | None, LoweringContext], list[Config]]

DISPATCH: dict[str, Lowering] = {
    "ops.Add": lower_add,
    "ops.Subtract": lower_subtract,
    "ops.Multiply": lower_multiply,
    "ops.TrueDivide": lower_true_divide,
    "ops.Divide": lower_true_divide,
    "ops.Negative": lower_negative,
    "ops.Maximum": lower_extremum,
    "ops.Minimum": lower_extremum,
    **{f"ops.{name}": lower_ops_activation for name in OPS_ACTIVATIONS},
    "layers.Subtract": lower_subtract_layer,
    "layers.Normalization": lower_normalization,
    "layers.Rescaling": lower_rescaling,
    "layers.Activation": lower_activation_layer,
    **{f"layers.{name}": lower_global_pooling for name in POOLINGS},
    "layers.Conv2D": lower_grouped_conv,
    "applications.LayerScale": lower_layer_scale,
    "applications.CustomScaleLayer": lower_custom_scale,
}


def dispatch_key(entry: Config) -> str:
    module = str(entry.get("module") or "")
    if module.startswith("keras.src.ops"):
        family = "ops"
    elif module.startswith("keras.src.applications."):  # only what `exporter.safe_mode` lets in gets here
        family = "applications"
    else:
        family = "layers"
    return f"{family}.{entry.get('class_name')}"


def outermost(entry: Config) -> Config:
    """The outermost model's entry, as a Functional one where a Sequential one could not hold a lowering."""
    layers = entry["config"].get("layers") or []
    if (
        entry.get("class_name") == "Sequential"
        and layers
        and layers[0].get("class_name") == "InputLayer"
        and any(branches(layer) for layer in layers)
    ):
        return as_functional(entry)
    return entry


def lower_layers(layers: list[Config], context: LoweringContext) -> list[Config]:
    """The layer entries of one (Functional or Sequential) Keras 3 model, each lowered where it must be."""
    lowered: list[Config] = []
    for entry in layers:
        key = dispatch_key(entry)
        if has_inline_activation(entry):
            lowered.extend(lower_inline_activation(entry, single_call(entry), context))
        elif key in DISPATCH and _needs_lowering(key, entry):
            try:
                lowered.extend(DISPATCH[key](entry, single_call(entry), context))
            except UnsupportedModelError:
                if key not in _SAME_IN_TF_KERAS:
                    raise
                # tf-keras has the layer: QAT and TFLite keep it, the TFJS topology names it as the obstacle.
                lowered.append(entry)
        elif key.startswith("ops."):
            raise no_tfjs_layers(
                f"keras.ops {entry.get('class_name')}", entry_name(entry), "tfjs-layers has no layer for it"
            )
        else:
            lowered.append(entry)
    return lowered


# Layers whose tf-keras class computes the same function: left as they are when they cannot be lowered.
_SAME_IN_TF_KERAS = frozenset(
    {"layers.Subtract", "layers.Normalization", "layers.Rescaling", "layers.Conv2D"}
    | {f"layers.{p}" for p in POOLINGS}
)


def _needs_lowering(key: str, entry: Config) -> bool:
    """Layers tf-keras and tfjs-layers both have in this form stay as they are (a shared one included)."""
    cfg = entry.get("config") or {}
    if key == "layers.Activation":
        return cfg.get("activation") in ACTIVATIONS
    if key == "layers.Rescaling":
        return any(isinstance(cfg.get(k), list) for k in ("scale", "offset"))
    if key == "layers.Conv2D":
        return is_grouped(entry)
    if key.removeprefix("layers.") in POOLINGS:
        return keeps_dims(entry)
    return True
