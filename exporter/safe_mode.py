"""Safe mode: refuse a model whose config would run code, before anything is deserialised.

Loading a Lambda layer runs marshalled Python bytecode from the file (tf-keras .h5 files do so even when
asked for safe mode), and an unregistered custom class means code the user would have to supply. So the
config is read as JSON and walked first; only a config made of built-in layers goes on to be loaded.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from exporter.errors import UnsafeModelError
from exporter.keras_config import Config, entry_name, iter_layer_entries

_MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})


# Built-in layers whose config carries a serialised Python function (marshalled bytecode, or a pickle):
# loading them runs code from the file, exactly like a Lambda.
_CODE_LAYERS = frozenset({"Lambda", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"})


def scan_config(config: Config, flavour: Literal["keras3", "tf_keras"]) -> None:
    """Refuse a model config whose deserialisation would run code from the file, before anything is built.

    `config` is a whole serialised model (`{"class_name", "config", ...}`, as in a `.keras` file's config.json
    or an `.h5` file's `model_config`) or the inner config of one (with `layers`). Every layer is checked,
    nested models and wrapped layers included; all offenders are named in one single-line UnsafeModelError.
    """
    entry = config if "class_name" in config else {"class_name": "Functional", "config": config}
    is_builtin = _is_builtin_keras3 if flavour == "keras3" else _is_builtin_tf_keras
    clauses: list[str] = []
    only_lambdas = True
    for layer in iter_layer_entries(entry):
        name = entry_name(layer)
        class_name = str(layer.get("class_name"))
        if class_name in _CODE_LAYERS:
            clauses.append(f"layer '{name}' is a {class_name} layer, which runs arbitrary Python code")
        elif not is_builtin(layer):
            only_lambdas = False
            shown = class_name.split(">")[-1]  # tf-keras writes registered classes as "Package>Class"
            clauses.append(
                f"layer '{name}' uses the custom class '{shown}', which is not a built-in Keras layer"
            )
    if not clauses:
        return
    if only_lambdas:
        pronoun = "it" if len(clauses) == 1 else "them"
        advice = "edgeship loads models in safe mode. "
        advice += f"Replace {pronoun} with built-in layers and save the model again."
    else:
        advice = (
            "edgeship loads models in safe mode and runs no code from model files. "
            "Use built-in layers, or export the model as a SavedModel."
        )
    raise UnsafeModelError(", ".join(clauses) + "; " + advice)


def _is_builtin_keras3(entry: Config) -> bool:
    import keras

    class_name = str(entry.get("class_name"))
    module = str(entry.get("module") or "")
    registered = entry.get("registered_name")
    if not (module == "keras" or module.startswith("keras.")) or registered not in (None, class_name):
        return False
    # keras.ops calls in a functional model (x + 1, ops.matmul) are serialised as operations of keras itself.
    is_op = module.startswith("keras.src.ops")
    return (
        is_op or class_name in _MODEL_CLASSES or _is_layer_class(keras.layers, keras.layers.Layer, class_name)
    )


def _is_builtin_tf_keras(entry: Config) -> bool:
    import tf_keras

    class_name = str(entry.get("class_name"))
    return class_name in _MODEL_CLASSES or _is_layer_class(tf_keras.layers, tf_keras.layers.Layer, class_name)


def _is_layer_class(namespace: Any, base: type, class_name: str) -> bool:
    """A layer class of that namespace; its helper functions (`serialize`, `deserialize`) do not count."""
    candidate = getattr(namespace, class_name, None)
    return inspect.isclass(candidate) and issubclass(candidate, base)
