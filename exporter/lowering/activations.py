"""Activations that tf-keras or tfjs-layers lack or define differently, as ReLU/Rescaling/Multiply chains.

Keras 3's `hard_sigmoid` is `relu6(x + 3) / 6`; tf-keras' and tfjs-layers' are `clip(0.2 x + 0.5, 0, 1)`,
another function: passing the name through would silently change the model. So `hard_sigmoid` becomes
`Rescaling(1, 3) -> ReLU(max_value=6) -> Rescaling(1/6)` (`x + 3` and the clip are exact, `* (1/6)` is
within one unit in the last place of `/ 6`), and `hard_silu` (`hard_swish`, `x * hard_sigmoid(x)`) adds a
`Multiply([x, that])`. `relu6` (which tf-keras has no activation for) becomes `ReLU(max_value=6)`, and
`leaky_relu` a `LeakyReLU` with Keras 3's slope 0.2. A layer with one of these as its `activation`
argument (`Conv2D(..., activation="hard_silu")`) is split into the layer, renamed `<name>_preactivation`
(its weights follow it), and the activation chain under the layer's own name.

The keras.ops forms (`ops.relu6(x)`, `ops.hard_silu(x)`, ...) lower to the same layers.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.keras_config import Config, entry_name
from exporter.lowering.arithmetic import rescaling
from exporter.lowering.graph import Call, LoweringContext, Ref, is_ref, layer, no_tfjs_layers, out

Chain = Callable[[str, Ref | None, LoweringContext], list[Config]]


def _relu6(name: str, source: Ref | None, context: LoweringContext) -> list[Config]:
    return [layer("ReLU", name, {"max_value": 6.0}, source)]


def _hard_sigmoid(name: str, source: Ref | None, context: LoweringContext) -> list[Config]:
    shifted, clipped = context.fresh(f"{name}_plus3"), context.fresh(f"{name}_relu6")
    return [
        rescaling(shifted, 1.0, 3.0, source),
        layer("ReLU", clipped, {"max_value": 6.0}, None if source is None else out(shifted)),
        rescaling(name, 1.0 / 6.0, 0.0, None if source is None else out(clipped)),
    ]


def _hard_silu(name: str, source: Ref | None, context: LoweringContext) -> list[Config]:
    if source is None:
        raise no_tfjs_layers(
            "hard_silu", name, "in a Sequential model it would need a second branch (x * hard_sigmoid(x))"
        )
    gate = context.fresh(f"{name}_hard_sigmoid")
    return [*_hard_sigmoid(gate, source, context), layer("Multiply", name, {}, [source, out(gate)])]


def _leaky_relu(name: str, source: Ref | None, context: LoweringContext) -> list[Config]:
    return [layer("LeakyReLU", name, {"negative_slope": 0.2}, source)]


def _plain(activation: str) -> Chain:
    def chain(name: str, source: Ref | None, context: LoweringContext) -> list[Config]:
        return [layer("Activation", name, {"activation": activation}, source)]

    return chain


# Activation name (as Keras 3 writes it) -> the chain of tfjs-layers layers that computes it.
ACTIVATIONS: dict[str, Chain] = {
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
}

# keras.ops activation class -> chain (the ops that tf-keras would otherwise refuse).
OPS_ACTIVATIONS: dict[str, Chain] = {
    "HardSigmoid": _hard_sigmoid,
    "HardSilu": _hard_silu,
    "Relu6": _relu6,
    "Relu": _plain("relu"),
    "Sigmoid": _plain("sigmoid"),
    "Tanh": _plain("tanh"),
    "Silu": _plain("silu"),
}


def _source(entry: Config, call: Call | None) -> Ref | None:
    if call is None:
        return None
    tensors = [arg for arg in call.args if is_ref(arg)]
    if len(tensors) != 1 or len(call.args) != 1:
        raise no_tfjs_layers(entry["class_name"], entry_name(entry), "it is not called on a single tensor")
    ref: Ref = tensors[0]
    return ref


def lower_activation_layer(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    """`keras.layers.Activation(<name>)` for the names in ACTIVATIONS."""
    chain = ACTIVATIONS[entry["config"]["activation"]]
    return chain(entry_name(entry), _source(entry, call), context)


def lower_ops_activation(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    if call is None:
        raise no_tfjs_layers(entry["class_name"], entry_name(entry), "it is not called on a tensor")
    return OPS_ACTIVATIONS[entry["class_name"]](entry_name(entry), _source(entry, call), context)


def lower_inline_activation(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    """A layer whose `activation` argument is in ACTIVATIONS: the layer, renamed, then the chain."""
    name = entry_name(entry)
    linear = context.fresh(f"{name}_preactivation")
    inner = {**entry, "config": {**entry["config"], "name": linear, "activation": "linear"}}
    if "name" in entry:
        inner["name"] = linear
    context.copied_from[linear] = name
    chain = ACTIVATIONS[entry["config"]["activation"]]
    return [inner, *chain(name, None if call is None else out(linear), context)]


# Layers that apply their `activation` to their output, so that it can be split off. Inside a recurrent
# cell (`activation`, `recurrent_activation`) it cannot: such a layer is refused instead.
SPLITTABLE = frozenset(
    {"Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
    | {"DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"}
)


def has_inline_activation(entry: Config) -> bool:
    """Whether `entry` (not an Activation layer) uses one of ACTIVATIONS; refused where it cannot be split."""
    cfg = entry.get("config")
    if entry.get("class_name") == "Activation" or not isinstance(cfg, dict):
        return False
    inner = [key for key, value in cfg.items() if key.endswith("activation") and value in ACTIVATIONS]
    if not inner:
        return False
    if entry.get("class_name") not in SPLITTABLE or inner != ["activation"]:
        raise no_tfjs_layers(
            f"{entry.get('class_name')} with {inner[0]}={cfg[inner[0]]}",
            entry_name(entry),
            "tf-keras and tfjs-layers have no such activation inside the layer (their hard_sigmoid is "
            "another function)",
        )
    return True


def branches(entry: Config) -> bool:
    """Whether lowering `entry` needs a second branch (hard_silu: x * hard_sigmoid(x))."""
    cfg = entry.get("config")
    activation = cfg.get("activation") if isinstance(cfg, dict) else None
    return activation in ("hard_silu", "hard_swish") or (
        str(entry.get("module") or "").startswith("keras.src.ops") and entry.get("class_name") == "HardSilu"
    )
