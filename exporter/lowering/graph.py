"""Building blocks every lowering shares: Keras 3 layer entries, tensor references, fresh names, refusals.

A lowering reads one Keras 3 layer entry (as `keras.saving.serialize_keras_object` writes it) and returns
the Keras 3 entries of plain `keras.layers` layers that compute the same thing. The entries it makes are in
the Keras 3 form on purpose: the translation to tf-keras (`exporter.keras_compat`) then treats them like
any other layer, so there is one translator, not two.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.errors import UnsupportedModelError
from exporter.keras_config import Config, entry_name

Ref = tuple[str, int, int]  # (layer name, node index, tensor index): one tensor in a functional graph


@dataclass
class Call:
    """One call of a layer: its positional arguments (tensor refs or constants) and its output shape."""

    args: list[Any]  # a Ref for a tensor, the raw value for a constant
    shapes: dict[Ref, list[int | None] | None]  # shape of each tensor argument, where Keras 3 wrote it


@dataclass
class LoweringContext:
    """What a lowering may read and write beyond its own entry.

    `layer(name)` is the Keras 3 layer object (for weights and adapted statistics); `weights` collects the
    arrays a lowered layer must hold (in its tf-keras weight order), by the new layer's name; `copied_from`
    names the Keras 3 layer whose weights a renamed layer keeps; `taken` holds every layer name in the
    model so that helper layers never collide with one. Computed weights are statistics (non-trainable)
    unless their layer is in `trainable` (a parameter rewritten in another shape, as LayerScale's gamma).
    """

    layer: Callable[[str], Any]
    taken: set[str]
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    copied_from: dict[str, str] = field(default_factory=dict)
    trainable: set[str] = field(default_factory=set)

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def no_tfjs_layers(what: str, name: str, why: str) -> UnsupportedModelError:
    """The one refusal of every lowering: the TFJS variants (and QAT, which needs tf-keras) are skipped."""
    return UnsupportedModelError(
        f"no TFJS layers model: {what} ({name}); {why}, so the TFJS variants and QAT are skipped (the TFLite "
        "variants are still built); to get them, rebuild the model with keras.layers that tfjs-layers has."
    )


def tensor(ref: Ref, shape: list[int | None] | None = None) -> Config:
    """A Keras 3 tensor reference, as inbound nodes hold them."""
    config: Config = {"keras_history": list(ref)}
    if shape is not None:
        config["shape"] = list(shape)
    return {"class_name": "__keras_tensor__", "config": config}


def layer(class_name: str, name: str, config: Config, inputs: list[Ref] | Ref | None) -> Config:
    """A Keras 3 entry of `keras.layers.<class_name>` called once on `inputs` (a list for merge layers)."""
    entry: Config = {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
    }
    if inputs is not None:
        arg = [tensor(ref) for ref in inputs] if isinstance(inputs, list) else tensor(inputs)
        entry["inbound_nodes"] = [{"args": [arg], "kwargs": {}}]
    return entry


def channel_scale(use_bias: bool, trainable: bool) -> Config:
    """A 1x1 DepthwiseConv2D's config: x * k[c] (+ b[c]) per channel, the exact per-channel affine
    tfjs-layers can run (its Rescaling takes scalars only)."""
    return {"kernel_size": [1, 1], "strides": [1, 1], "padding": "valid", "depth_multiplier": 1,
            "use_bias": use_bias, "activation": "linear", "trainable": trainable}  # fmt: skip


def single_call(entry: Config) -> Call | None:
    """The entry's only call (None in a Sequential model); a layer called more than once is refused."""
    nodes = entry.get("inbound_nodes")
    if nodes is None:
        return None
    name = entry_name(entry)
    if len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise no_tfjs_layers(
            entry["class_name"], name, "a layer that is called more than once cannot be rewritten yet"
        )
    args, shapes = [], {}
    for arg in nodes[0].get("args", []):
        for item in arg if isinstance(arg, list) and arg and _is_tensor(arg[0]) else [arg]:
            if _is_tensor(item):
                source, node, index = item["config"]["keras_history"]
                ref = (str(source), int(node), int(index))
                args.append(ref)
                shapes[ref] = item["config"].get("shape")
            else:
                args.append(item)
    return Call(args, shapes)


def input_shape(entry: Config, call: Call | None) -> list[int | None] | None:
    """The shape of the layer's (first) input, from its call or its build config; None where unwritten."""
    if call is not None and call.shapes:
        shape = next(iter(call.shapes.values()))
        if shape is not None:
            return list(shape)
    shape = (entry.get("build_config") or {}).get("input_shape")
    return list(shape) if isinstance(shape, list | tuple) else None


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def is_ref(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 3


def is_scalar(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def out(name: str) -> Ref:
    return (name, 0, 0)


def as_functional(entry: Config) -> Config:
    """A Keras 3 Sequential entry (starting with its InputLayer) as the equivalent Functional entry.

    For lowerings that branch (`x * hard_sigmoid(x)`), which a Sequential model cannot hold. Only for the
    outermost model: an outer model refers to a nested Sequential's and a nested Functional's nodes by
    different indices.
    """
    layers = entry["config"]["layers"]
    linked: list[Config] = [{**layers[0], "name": entry_name(layers[0]), "inbound_nodes": []}]
    for previous, current in itertools.pairwise(layers):
        source = tensor((entry_name(previous), 0, 0))
        linked.append(
            {**current, "name": entry_name(current), "inbound_nodes": [{"args": [source], "kwargs": {}}]}
        )
    config = {
        "name": entry["config"]["name"],
        "trainable": entry["config"].get("trainable", True),
        "layers": linked,
        "input_layers": [[entry_name(layers[0]), 0, 0]],
        "output_layers": [[entry_name(layers[-1]), 0, 0]],
    }
    return {**entry, "class_name": "Functional", "config": config}
