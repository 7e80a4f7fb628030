"""Tensor arithmetic (`x + 3`, `x * (1 / 6)`, `a - b`, `-x`) and the merge layers tfjs-layers lacks.

Exactness, in IEEE float32: `Rescaling(scale, offset)` computes `x * scale + offset`, so `x + c` is
`x * 1 + c` (the same number), `x - c` is `x * 1 + (-c)`, `c - x` is `x * -1 + c` and `x * c` is
`x * c + 0`: each is bit-identical to the op it replaces. `x / c` becomes `x * (1 / c)`, within one unit in
the last place. `a - b` becomes `Add([a, Rescaling(-1)(b)])`, again bit-identical.
"""

from __future__ import annotations

from exporter.keras_config import Config, entry_name
from exporter.lowering.graph import Call, LoweringContext, Ref, is_ref, is_scalar, layer, no_tfjs_layers, out


def rescaling(name: str, scale: float, offset: float, source: Ref | None) -> Config:
    return layer("Rescaling", name, {"scale": float(scale), "offset": float(offset)}, source)


def _split(entry: Config, call: Call | None) -> tuple[list[Ref], list[float]]:
    if call is None:  # ops layers only exist in functional models
        raise no_tfjs_layers(entry["class_name"], entry_name(entry), "it is not called on a tensor")
    tensors = [arg for arg in call.args if is_ref(arg)]
    constants = [arg for arg in call.args if not is_ref(arg)]
    if not all(is_scalar(c) for c in constants) or len(call.args) not in (1, 2):
        raise no_tfjs_layers(
            f"keras.ops {entry['class_name']}",
            entry_name(entry),
            "it takes a constant that is not a single number, which tfjs-layers cannot hold",
        )
    return tensors, [float(c) for c in constants]


def lower_add(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    tensors, constants = _split(entry, call)
    if constants:
        return [rescaling(name, 1.0, constants[0], tensors[0])]
    return [layer("Add", name, {}, tensors)]


def lower_multiply(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    tensors, constants = _split(entry, call)
    if constants:
        return [rescaling(name, constants[0], 0.0, tensors[0])]
    return [layer("Multiply", name, {}, tensors)]


def lower_subtract(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    tensors, constants = _split(entry, call)
    assert call is not None
    if constants:
        first_is_tensor = is_ref(call.args[0])
        scale, offset = (1.0, -constants[0]) if first_is_tensor else (-1.0, constants[0])
        return [rescaling(name, scale, offset, tensors[0])]
    return _difference(name, tensors[0], tensors[1], context)


def lower_subtract_layer(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    """`keras.layers.Subtract` (tf-keras has it, tfjs-layers does not)."""
    name = entry_name(entry)
    if call is None or len(call.args) != 2 or not all(is_ref(a) for a in call.args):
        raise no_tfjs_layers("Subtract", name, "it is not called on two tensors of a functional model")
    return _difference(name, call.args[0], call.args[1], context)


def _difference(name: str, a: Ref, b: Ref, context: LoweringContext) -> list[Config]:
    negated = context.fresh(f"{name}_negated")
    return [rescaling(negated, -1.0, 0.0, b), layer("Add", name, {}, [a, out(negated)])]


def lower_true_divide(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    tensors, constants = _split(entry, call)
    assert call is not None
    if not constants or not is_ref(call.args[0]) or constants[0] == 0.0:
        raise no_tfjs_layers(
            f"keras.ops {entry['class_name']}",
            name,
            "tfjs-layers has no layer that divides by a tensor",
        )
    return [rescaling(name, 1.0 / constants[0], 0.0, tensors[0])]


def lower_negative(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    tensors, _ = _split(entry, call)
    return [rescaling(name, -1.0, 0.0, tensors[0])]


def lower_extremum(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    """`ops.maximum(a, b)`/`ops.minimum(a, b)` of two tensors, and `ops.maximum(x, 0)` (a ReLU)."""
    name = entry_name(entry)
    tensors, constants = _split(entry, call)
    kind = entry["class_name"]
    if not constants:
        return [layer(kind, name, {}, tensors)]
    if kind == "Maximum" and constants[0] == 0.0:
        return [layer("ReLU", name, {}, tensors[0])]
    raise no_tfjs_layers(
        f"keras.ops {kind}", name, f"tfjs-layers has no layer for a {kind.lower()} with a constant"
    )
