"""Keras 3 -> tf-keras translation (safe mode lives in `safe_mode`, the TFJS view in `tfjs_topology`).

Why this module exists: the TFJS layers format and tensorflow-model-optimization (QAT) both need tf-keras
(Keras 2) models, while users bring Keras 3 `.keras` files. Renaming keys is not enough (the configs differ
in InputLayer `batch_shape`, DTypePolicy dicts, Keras-3-only arguments, the new `inbound_nodes` form), so the
Keras 3 config is rewritten into the tf-keras form, rebuilt with tf-keras, and the weights are copied layer by
layer. Everything downstream (TFJS, BN folding, QAT, TFLite) then sees one kind of model. Before the
translation, `exporter.lowering` rewrites what tf-keras or tfjs-layers lack (keras.ops arithmetic, Keras 3's
hard_sigmoid/hard_silu, Normalization, ...) as layers both have, with the same math.

TensorFlow, Keras 3 and tf-keras are imported inside the functions: importing `exporter` must not initialise
TensorFlow (see `exporter.gpu`).
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any

import numpy as np

from exporter.errors import ConversionError, UnsupportedModelError
from exporter.keras_config import NESTED_LAYER_KEYS, SERIALISATION_KEYS, Config, entry_name, short_name
from exporter.lowering import LoweringContext, lower_layers, no_tfjs_layers, outermost
from exporter.safe_mode import scan_config

_MISSING = object()

# Arguments Keras 3 renamed. Without this, LeakyReLU's `negative_slope` at the Keras 3 default would be
# dropped as "Keras 3-only" and tf-keras' `alpha` would take its own default: a different function.
_RENAMED_ARGUMENTS = {"LeakyReLU": {"negative_slope": "alpha"}}


def to_tf_keras(model: Any) -> Any:
    """An equivalent tf-keras model: same layer names, same weights, same trainable flags.

    A tf-keras model is returned unchanged. Raises UnsafeModelError for Lambda/custom layers and
    UnsupportedModelError for anything tf-keras cannot express (a layer class it lacks, a Keras-3-only
    argument set to a non-default value, keras.ops calls, dict inputs or outputs, a subclassed model).
    """
    import keras
    import tf_keras

    if isinstance(model, tf_keras.Model):
        return model
    entry = keras.saving.serialize_keras_object(model)
    if entry.get("class_name") not in ("Functional", "Sequential"):
        raise UnsupportedModelError(
            f"model '{model.name}' is a subclassed Keras model ({type(model).__name__}), which has no "
            "tf-keras/TFJS equivalent; build it with the functional or Sequential API, or export the model "
            "as a SavedModel."
        )
    scan_config(entry, "keras3")
    lowerings: dict[tuple[str, ...], LoweringContext] = {}
    translated = _translate_model(outermost(entry), model, (), lowerings)
    try:
        tfk_model = tf_keras.models.model_from_json(json.dumps(translated))
    except (TypeError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedModelError(
            f"tf-keras cannot rebuild model '{model.name}' ({first_line}); "
            "rebuild it with layers that tf-keras also has, or export the model as a SavedModel."
        ) from exc
    _copy_model_weights(model, tfk_model, lowerings, ())
    return tfk_model


def _translate_model(
    entry: Config, model: Any | None, path: tuple[str, ...], lowerings: dict[tuple[str, ...], LoweringContext]
) -> Config:
    """A Keras 3 Sequential/Functional entry in the tf-keras form (`{"class_name", "config"}`), lowered.

    `model` is the Keras 3 model the entry describes (the lowerings read weights and statistics from it);
    `path` names the nested models above it, the key of its lowering context in `lowerings`.
    """
    class_name = entry["class_name"]
    cfg = entry["config"]
    functional = class_name == "Functional"
    context = LoweringContext(
        layer=model.get_layer if model is not None else _no_layer_objects,
        taken={entry_name(layer) for layer in cfg["layers"]},
    )
    lowerings[path] = context
    layers = lower_layers(cfg["layers"], context)
    skipping = [layer for layer in layers if _skips_first_node(layer)]
    offsets = {entry_name(layer): 1 for layer in skipping}
    # Keras 3 already counts a nested Functional's calls from 1 in input/output_layers (not in inbound nodes).
    ref_offsets = {entry_name(layer): 1 for layer in skipping if layer["class_name"] == "Sequential"}
    out: Config = {
        "name": cfg["name"],
        "trainable": cfg.get("trainable", True),
        "layers": [
            _translate_entry(layer, offsets if functional else None, model, path, lowerings)
            for layer in layers
        ],
    }
    if functional:
        out["input_layers"] = _nested_refs(cfg["name"], "inputs", cfg["input_layers"], ref_offsets)
        out["output_layers"] = _nested_refs(cfg["name"], "outputs", cfg["output_layers"], ref_offsets)
    elif cfg.get("build_input_shape") is not None:
        out["build_input_shape"] = cfg["build_input_shape"]
    return {"class_name": class_name, "config": out}


def _no_layer_objects(name: str) -> Any:
    raise no_tfjs_layers(name, name, "its weights cannot be read here")


def _skips_first_node(entry: Config) -> bool:
    """Whether tf-keras and tfjs count a nested model's calls from node 1, as they do (Keras 3 counts from 0).

    A nested model rebuilt with an InputLayer owns node 0 itself, linking its inputs to its outputs, so its
    first call in the outer model is node 1 (tf-keras `functional._should_skip_first_node`; tfjs' Container).
    """
    if entry.get("class_name") == "Functional":
        return True
    layers = entry.get("config", {}).get("layers") or []
    return (
        entry.get("class_name") == "Sequential"
        and bool(layers)
        and layers[0].get("class_name") == "InputLayer"
    )


def _nested_refs(model_name: str, what: str, refs: Any, offsets: dict[str, int]) -> list[list[Any]]:
    """Keras 3 writes a single input/output un-nested (`["x", 0, 0]`); tf-keras and tfjs want a list."""
    if _is_ref(refs):
        refs = [refs]
    if isinstance(refs, list) and refs and all(_is_ref(ref) for ref in refs):
        return [[name, node + offsets.get(name, 0), index] for name, node, index in refs]
    raise UnsupportedModelError(
        f"model '{model_name}' has its {what} in a dict or nested structure, which tf-keras/TFJS models "
        f"cannot express; pass the {what} as a list and save the model again."
    )


def _is_ref(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _translate_entry(
    entry: Config,
    offsets: dict[str, int] | None,
    model: Any = None,
    path: tuple[str, ...] = (),
    lowerings: dict[tuple[str, ...], LoweringContext] | None = None,
) -> Config:
    """One layer of a model; `offsets` (node-index shifts of nested models) only inside a functional model."""
    class_name = entry["class_name"]
    name = entry_name(entry)
    if class_name in ("Functional", "Sequential"):
        nested = model.get_layer(name) if model is not None else None
        out = _translate_model(entry, nested, (*path, name), {} if lowerings is None else lowerings)
    else:
        out = {"class_name": class_name, "config": _translate_layer_config(entry)}
    if offsets is not None:
        out["name"] = name
        out["inbound_nodes"] = [
            _translate_node(name, node, offsets) for node in entry.get("inbound_nodes", [])
        ]
    return out


def _translate_layer_config(entry: Config) -> Config:
    import keras
    import tf_keras

    class_name = entry["class_name"]
    name = entry_name(entry)
    if str(entry.get("module") or "").startswith("keras.src.ops"):  # `exporter.lowering` lowers the rest
        raise no_tfjs_layers(f"keras.ops {class_name}", name, "tfjs-layers has no layer for it")
    tfk_class = getattr(tf_keras.layers, class_name, None)
    if tfk_class is None:
        raise UnsupportedModelError(
            f"layer '{name}' ({class_name}) has no tf-keras/TFJS equivalent; rebuild the model with layers "
            "that tf-keras also has, or export the model as a SavedModel (TFLite variants only)."
        )
    cfg = entry["config"]
    if class_name == "InputLayer":
        return _translate_input_layer(name, cfg)
    for keras3_key, tf_keras_key in _RENAMED_ARGUMENTS.get(class_name, {}).items():
        if keras3_key in cfg:
            cfg = {**{k: v for k, v in cfg.items() if k != keras3_key}, tf_keras_key: cfg[keras3_key]}
    return _translate_arguments(
        f"layer '{name}' ({class_name})", cfg, tfk_class, getattr(keras.layers, class_name, None)
    )


def _translate_input_layer(name: str, cfg: Config) -> Config:
    if cfg.get("optional"):
        raise UnsupportedModelError(
            f"layer '{name}' (InputLayer) is an optional input, which tf-keras/TFJS models cannot express; "
            "make the input required and save the model again."
        )
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    return {
        "batch_input_shape": shape,
        "dtype": _dtype_name(name, cfg.get("dtype")) or "float32",
        "sparse": bool(cfg.get("sparse", False)),
        "ragged": bool(cfg.get("ragged", False)),
        "name": name,
    }


def _translate_arguments(owner: str, cfg: Config, tfk_class: type, k3_class: type | None) -> Config:
    """Keep the arguments tf-keras accepts; drop Keras-3-only ones at their default; refuse the rest."""
    accepted = _accepted_arguments(tfk_class)
    defaults = _defaults(k3_class) if k3_class is not None else {}
    out: Config = {}
    for key, value in cfg.items():
        if key in SERIALISATION_KEYS:
            continue
        if key == "dtype":
            dtype = _dtype_name(owner, value)
            if dtype is not None:
                out[key] = dtype
        elif key in accepted:
            out[key] = _translate_value(owner, key, value)
        elif not _is_default(value, defaults.get(key, _MISSING)):
            raise UnsupportedModelError(
                f"{owner} sets {key}={value!r}, a Keras 3-only argument that tf-keras/TFJS cannot express; "
                "leave it at its default and save the model again."
            )
    return out


def _translate_value(owner: str, key: str, value: Any) -> Any:
    import tf_keras

    if key == "cells" and isinstance(value, list):
        return [_translate_entry(cell, None) for cell in value]
    if not (isinstance(value, dict) and "class_name" in value and "config" in value):
        return value
    if key in NESTED_LAYER_KEYS:
        return _translate_entry(value, None)
    if key == "activation":
        # Keras 3 writes built-in activations as plain strings; an object here is a custom function.
        raise UnsupportedModelError(
            f"{owner} uses a custom activation ({value['class_name']}), which has no tf-keras/TFJS "
            "equivalent; use a built-in activation and save the model again."
        )
    for suffix, namespace in (
        ("_initializer", tf_keras.initializers),
        ("_regularizer", tf_keras.regularizers),
        ("_constraint", tf_keras.constraints),
    ):
        if key.endswith(suffix):
            return _translate_object(owner, key, value, namespace, suffix)
    # Anything else is passed on without its Keras 3 bookkeeping; tf-keras reports it if it cannot read it.
    return {"class_name": value["class_name"], "config": value["config"]}


def _translate_object(owner: str, key: str, value: Config, namespace: Any, suffix: str) -> Config:
    import keras

    class_name = value["class_name"]
    tfk_class = getattr(namespace, class_name, None)
    if tfk_class is None:
        raise UnsupportedModelError(
            f"{owner} uses the {suffix.strip('_')} {class_name} for {key}, which tf-keras/TFJS do not have; "
            "use a built-in one and save the model again."
        )
    k3_namespace = {
        "_initializer": keras.initializers,
        "_regularizer": keras.regularizers,
        "_constraint": keras.constraints,
    }[suffix]
    config = _translate_arguments(
        f"{owner} {key} ({class_name})", value["config"], tfk_class, getattr(k3_namespace, class_name, None)
    )
    return {"class_name": class_name, "config": config}


@functools.cache
def _accepted_arguments(cls: type) -> frozenset[str]:
    """Constructor arguments of `cls`, following `**kwargs` up the class hierarchy as tf-keras layers do."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(klass.__init__).parameters.values()  # type: ignore[misc]
        names.update(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
        if klass.__name__ == "Layer" and klass.__module__.startswith("tf_keras"):
            # tf-keras' base Layer validates these `**kwargs` itself (base_layer.Layer.__init__).
            names.update(
                {"input_dim", "input_shape", "batch_input_shape", "batch_size", "weights", "autocast"}
                | {"activity_regularizer", "implementation"}
            )
            break
    names.discard("self")
    return frozenset(names)


@functools.cache
def _defaults(cls: type) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass is not object:
            for p in inspect.signature(klass.__init__).parameters.values():  # type: ignore[misc]
                if p.default is not p.empty:
                    defaults[p.name] = p.default
    return defaults


def _is_default(value: Any, default: Any) -> bool:
    if value is None or value is False:
        return True
    return default is not _MISSING and _jsonish(value) == _jsonish(default)


def _jsonish(value: Any) -> Any:
    """Compare a config value with a Python default the way the config stores it (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def _dtype_name(owner: str, dtype: Any) -> str | None:
    """Keras 3 writes dtypes as DTypePolicy objects; tf-keras and tfjs want the policy name as a string."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict) and dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return str(dtype["config"]["name"])
    policy = dtype.get("class_name") if isinstance(dtype, dict) else type(dtype).__name__
    raise UnsupportedModelError(
        f"{owner} uses the dtype policy {policy} (a quantized Keras 3 layer), which has no tf-keras/TFJS "
        "equivalent; export the float model and let edgeship quantize it."
    )


def _translate_node(layer_name: str, node: Any, offsets: dict[str, int]) -> list[list[Any]]:
    """Keras 3 `{"args": [tensor(s)], "kwargs": {}}` -> tf-keras `[[layer, node, index, kwargs], ...]`."""
    if isinstance(node, list):  # already in the tf-keras form
        return node
    args = node.get("args", [])
    # A None keyword (`mask=None` on nested models) is the call's default; tfjs-layers chokes on some of them.
    kwargs = {key: value for key, value in node.get("kwargs", {}).items() if value is not None}
    if len(args) != 1:
        raise UnsupportedModelError(
            f"layer '{layer_name}' is called with {len(args)} positional arguments; tf-keras/TFJS layers "
            "take one input (a tensor or a list of tensors). Use a merge layer such as Add or Concatenate "
            "instead."
        )
    if "__keras_tensor__" in json.dumps(kwargs):
        raise UnsupportedModelError(
            f"layer '{layer_name}' receives a tensor as a keyword argument, which TFJS models cannot "
            "express; pass tensors as the layer's input instead."
        )
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    return [[*_keras_history(layer_name, tensor, offsets), kwargs] for tensor in tensors]


def _keras_history(layer_name: str, tensor: Any, offsets: dict[str, int]) -> list[Any]:
    if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
        source, node, index = tensor["config"]["keras_history"]
        return [source, node + offsets.get(source, 0), index]
    raise UnsupportedModelError(
        f"layer '{layer_name}' is called with a constant ({tensor!r}) among its inputs, which tf-keras/TFJS "
        "models cannot express; feed it through a layer (for example Rescaling) instead."
    )


def _copy_model_weights(
    src: Any, dst: Any, lowerings: dict[tuple[str, ...], LoweringContext], path: tuple[str, ...]
) -> None:
    """Copy weights and trainable flags layer by layer, matched by name (nested models recursively).

    A lowered layer takes the arrays its lowering computed; a layer the lowering renamed (a layer split
    from its activation) takes the weights of the Keras 3 layer it came from.
    """
    context = lowerings.get(path)
    computed = context.weights if context else {}
    moved = {old: new for new, old in context.copied_from.items()} if context else {}
    targets = {layer.name: layer for layer in dst.layers}
    for layer in src.layers:
        target = targets.get(moved.get(layer.name, layer.name))
        if target is None:
            raise ConversionError(f"layer '{layer.name}' is missing from the tf-keras model; this is a bug.")
        if target.name in computed:
            continue
        target.trainable = layer.trainable
        if hasattr(layer, "layers") and hasattr(target, "layers"):
            _copy_model_weights(layer, target, lowerings, (*path, layer.name))
        else:
            _copy_layer_weights(layer, target)
    for name, arrays in computed.items():
        targets[name].set_weights(arrays)
        # statistics, not parameters: QAT and fine-tuning leave them be (unless the lowering says otherwise)
        targets[name].trainable = context is not None and name in context.trainable


def _copy_layer_weights(src: Any, dst: Any) -> None:
    src_vars, dst_vars = list(src.weights), list(dst.weights)
    if len(src_vars) != len(dst_vars):
        raise ConversionError(
            f"layer '{src.name}' has {len(src_vars)} weights in Keras 3 but {len(dst_vars)} in tf-keras; "
            "export the model as a SavedModel instead."
        )
    src_names = [short_name(v.name) for v in src_vars]
    dst_names = [short_name(v.name) for v in dst_vars]
    # Match by name where names are unique and agree (BN stats, kernels); otherwise keep creation order.
    if len(set(src_names)) == len(src_names) and sorted(src_names) == sorted(dst_names):
        order = [src_names.index(name) for name in dst_names]
    else:
        order = list(range(len(src_vars)))
    values: list[np.ndarray] = []
    for dst_var, dst_name, index in zip(dst_vars, dst_names, order, strict=True):
        value = np.asarray(src_vars[index].numpy())
        if tuple(value.shape) != tuple(dst_var.shape):
            raise ConversionError(
                f"layer '{src.name}' weight {dst_name} has shape {tuple(value.shape)} in Keras 3 but "
                f"{tuple(dst_var.shape)} in tf-keras; export the model as a SavedModel instead."
            )
        values.append(value)
    dst.set_weights(values)
