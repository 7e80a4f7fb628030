"""Safe mode: refuse a model whose config would run code, before anything is deserialised.

Loading a Lambda layer runs marshalled Python bytecode from the file (tf-keras .h5 files do so even when
asked for safe mode), and an unregistered custom class means code the user would have to supply. Nor is it
only layers: tf-keras' legacy deserialiser builds any config value marked `__passive_serialization__` (a
Dense layer's activation, say) into the object it names, a Lambda included, and the `.keras` loaders resolve
every `{"module", "class_name"}` pair they meet. So the whole config tree is walked first, every dict and
list in it, without recursion, and every serialised object in it must be one of Keras' own built-ins.

Keras' own built-ins include two layers that keras.applications defines outside `keras.layers` (ConvNeXt's
`LayerScale`, InceptionResNetV2's `CustomScaleLayer`): shipped in the keras package, loaded by Keras' own
safe-mode loader from their module, and as trusted as `Dense`. They are allowed by the exact module, class
name and registered name Keras writes for them, and nothing else: Keras 3 imports whatever module a config
names inside `keras`, `keras_hub`, `keras_cv` or `keras_nlp`, so a look-alike elsewhere would be someone
else's code.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from exporter.errors import UnsafeModelError
from exporter.keras_config import NESTED_LAYER_KEYS, Config, entry_name

Flavour = Literal["keras3", "tf_keras"]

_MAX_NAMED = 10  # offenders named in the message; a hostile file may hold thousands
_MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
# Built-in classes whose config carries a serialised Python function (marshalled bytecode, or a pickle):
# loading them runs code from the file, exactly like a Python lambda.
_CODE_CLASSES = frozenset({"Lambda", "JaxLayer", "FlaxLayer", "TorchModuleWrapper", "__lambda__"})
# How Keras writes tensors, arrays and Python values: plain data, built without looking any class up.
_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__tuple__"}
)
# Any of these keys makes a dict a serialised object that a Keras deserialiser would look up and build.
_OBJECT_KEYS = ("class_name", "__passive_serialization__", "module", "registered_name")
# Keys of a layer's config that hold layers: the rest of the config holds plain values and nested objects.
_LAYER_SLOTS = frozenset({"layers", *NESTED_LAYER_KEYS})
# Where Keras looks up a function that a config names by its name alone (`"activation": "relu"` and kin).
_FUNCTION_MODULES = ("activations", "constraints", "initializers", "losses", "metrics", "regularizers")
# Layers keras.applications defines in its own modules, as each flavour serialises them (module, class_name,
# registered_name). tf-keras registers CustomScaleLayer under "Custom>"; its LayerScale is not listed because
# tf-keras itself cannot load a ConvNeXt it saved ("Unknown layer: 'LayerScale'").
_APPLICATION_LAYERS: dict[Flavour, frozenset[tuple[str | None, str, str | None]]] = {
    "keras3": frozenset(
        {
            ("keras.src.applications.convnext", "LayerScale", "LayerScale"),
            ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "CustomScaleLayer"),
        }
    ),
    "tf_keras": frozenset(
        {
            ("tf_keras.src.applications.inception_resnet_v2", "CustomScaleLayer", "Custom>CustomScaleLayer"),
            # an .h5 names it by its registered name alone, which only edgeship's own imports can register
            (None, "Custom>CustomScaleLayer", None),
        }
    ),
}
_APPLICATION_NAMES = frozenset(name for allowed in _APPLICATION_LAYERS.values() for _, name, _ in allowed)
_CLASS_MODULES = (
    "layers", "initializers", "regularizers", "constraints", "losses", "metrics", "optimizers",
    "optimizers.schedules", "dtype_policies", "mixed_precision", "quantizers", "random",
)  # fmt: skip


@dataclass(frozen=True)
class _Place:
    value: Any
    owner: str  # "layer 'head'", "model 'classifier'"; "" above the model
    path: str  # where in the owner's config, as `activation` or `inbound_nodes[0].args[0]`
    holds_layers: bool


@dataclass(frozen=True)
class _Offence:
    clause: str
    runs_code: bool


def scan_config(config: Config, flavour: Flavour) -> None:
    """Refuse a model config whose deserialisation would run code from the file, before anything is built.

    `config` is a whole serialised model (`{"class_name", "config", ...}`, as in a `.keras` file's config.json
    or an `.h5` file's `model_config`) or the inner config of one (with `layers`). Every serialised object is
    checked, layers and the values inside them alike; all offenders are named in one single-line
    UnsafeModelError.
    """
    entry = config if "class_name" in config else {"class_name": "Functional", "config": config}
    offences = list(_offences(entry, flavour))
    if not offences:
        return
    if all(offence.runs_code for offence in offences):
        pronoun = "it" if len(offences) == 1 else "them"
        advice = "edgeship loads models in safe mode. "
        advice += f"Replace {pronoun} with built-in layers and save the model again."
    else:
        advice = (
            "edgeship loads models in safe mode and runs no code from model files. "
            "Use built-in layers, or export the model as a SavedModel."
        )
    clauses = [offence.clause for offence in offences[:_MAX_NAMED]]
    if len(offences) > _MAX_NAMED:
        clauses.append(f"and {len(offences) - _MAX_NAMED} more")
    raise UnsafeModelError(", ".join(clauses) + "; " + advice)


def _offences(entry: Config, flavour: Flavour) -> Iterator[_Offence]:
    """Depth first, in file order, with an explicit stack: a config may be nested arbitrarily deep."""
    stack = [_Place(entry, "", "", holds_layers=True)]
    while stack:
        place = stack.pop()
        value = place.value
        if isinstance(value, list):
            items = [
                _Place(v, place.owner, f"{place.path}[{i}]", place.holds_layers) for i, v in enumerate(value)
            ]
            stack.extend(reversed(items))
            continue
        if not isinstance(value, dict):
            continue
        is_object = any(key in value for key in _OBJECT_KEYS)
        if is_object and place.holds_layers:
            name = _printable(entry_name(value))
            offence = _layer_offence(value, name, flavour)
            if offence:
                yield offence
                continue
            children = _layer_children(value, f"layer '{name}'" if place.owner else f"model '{name}'")
        else:
            if is_object:
                offence = _nested_offence(value, place, flavour)
                if offence:
                    yield offence
                    continue
            children = [_Place(v, place.owner, _join(place.path, str(k)), False) for k, v in value.items()]
        for child in children:
            if _is_function_value(child):  # Lambda's key for its marshalled bytecode, wherever a file puts it
                yield _Offence(
                    f"{child.owner or 'the file'} holds a serialised Python function at '{child.path}', "
                    "which runs arbitrary Python code",
                    runs_code=True,
                )
        stack.extend(reversed([child for child in children if not _is_function_value(child)]))


def _layer_children(entry: Config, owner: str) -> list[_Place]:
    """A layer's own config is where paths start; its layer slots hold layers again."""
    children: list[_Place] = []
    for key, value in entry.items():
        if key == "config" and isinstance(value, dict):
            children.extend(_Place(v, owner, _printable(str(k)), k in _LAYER_SLOTS) for k, v in value.items())
        else:
            children.append(_Place(value, owner, _printable(str(key)), False))
    return children


def _is_function_value(place: _Place) -> bool:
    return place.path.rsplit(".", 1)[-1] == "function" and isinstance(place.value, dict | list)


def _join(path: str, key: str) -> str:
    key = _printable(key)
    return f"{path}.{key}" if path else key


def _printable(text: str, limit: int = 60) -> str:
    """Text from the file, fit for a one-line message: control characters escaped, length capped."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + "..." if len(text) > limit else shown


def _layer_offence(entry: Config, name: str, flavour: Flavour) -> _Offence | None:
    class_name = str(entry.get("class_name"))
    if class_name in _CODE_CLASSES:
        return _Offence(f"layer '{name}' is a {class_name} layer, which runs arbitrary Python code", True)
    if _is_builtin_layer(entry, flavour):
        return None
    shown = _printable(class_name.split(">")[-1])  # tf-keras writes registered classes as "Package>Class"
    if class_name in _APPLICATION_NAMES:  # a look-alike of Keras' own: say where it would come from
        shown = _printable(_look_alike(entry), 100)
    return _Offence(
        f"layer '{name}' uses the custom class '{shown}', which is not a built-in Keras layer", False
    )


def _look_alike(entry: Config) -> str:
    module, class_name, registered = (
        entry.get("module"),
        entry.get("class_name"),
        entry.get("registered_name"),
    )
    if isinstance(registered, str) and registered != class_name:
        return registered
    return f"{module}.{class_name}" if isinstance(module, str) else str(class_name)


def _nested_offence(entry: Config, place: _Place, flavour: Flavour) -> _Offence | None:
    class_name = entry.get("class_name")
    where = f"{place.owner or 'the file'} holds"
    if isinstance(class_name, str) and class_name in _CODE_CLASSES:
        what = "a Python lambda" if class_name == "__lambda__" else f"a {class_name} object"
        return _Offence(f"{where} {what} at '{place.path}', which runs arbitrary Python code", True)
    if _is_builtin_object(entry, flavour):
        return None
    shown = _printable(_shown(entry))
    return _Offence(
        f"{where} the custom object '{shown}' at '{place.path}', which is not a built-in Keras object", False
    )


def _shown(entry: Config) -> str:
    class_name, module = entry.get("class_name"), entry.get("module")
    registered = entry.get("registered_name")
    name = entry.get("config") if class_name == "function" else class_name
    if isinstance(registered, str) and registered not in (class_name, "function"):
        name = registered
    if class_name == "__typespec__":
        name = entry.get("spec_name")
    if isinstance(module, str) and not _is_keras_module(module, "tf_keras"):
        return f"{module}.{name}"
    return str(name)


def _is_builtin_layer(entry: Config, flavour: Flavour) -> bool:
    class_name, module = entry.get("class_name"), entry.get("module")
    key = (module, class_name, entry.get("registered_name"))
    if all(isinstance(part, str | None) for part in key) and key in _APPLICATION_LAYERS[flavour]:
        return module is not None or _registered_by_keras(flavour, str(class_name))
    if not isinstance(class_name, str) or not _registered_as_itself(entry):
        return False
    if module is not None and not (isinstance(module, str) and _is_keras_module(module, flavour)):
        return False
    if flavour == "keras3" and isinstance(module, str) and module.startswith("keras.src.ops."):
        # keras.ops calls in a functional model (x + 1, ops.matmul) are serialised as keras' own operations
        return _is_keras3_operation(module, class_name)
    return class_name in _MODEL_CLASSES or _is_class_in(flavour, "layers", class_name)


def _is_builtin_object(entry: Config, flavour: Flavour) -> bool:
    class_name, module = entry.get("class_name"), entry.get("module")
    if not isinstance(class_name, str):
        return False
    if class_name in _DATA_MARKERS:
        return True
    if class_name == "__typespec__":  # a tf.TypeSpec, looked up in its own (TensorFlow) module
        return isinstance(module, str) and module.split(".")[0] == "tensorflow"
    if class_name == "function":  # a built-in function, named by its name
        name, registered = entry.get("config"), entry.get("registered_name")
        return (
            isinstance(name, str)
            and registered in (None, "function", name)
            and (
                module is None
                or module == "builtins"
                or (isinstance(module, str) and _is_keras_module(module, flavour))
            )
            and _is_builtin_function(flavour, name)
        )
    return _is_builtin_layer(entry, flavour) or (
        _registered_as_itself(entry)
        and (module is None or (isinstance(module, str) and _is_keras_module(module, flavour)))
        and any(_is_class_in(flavour, namespace, class_name) for namespace in _CLASS_MODULES)
    )


def _registered_as_itself(entry: Config) -> bool:
    """Keras writes `registered_name` null or equal to the class name for its own classes."""
    return entry.get("registered_name") in (None, entry.get("class_name"))


def _is_keras_module(module: str, flavour: Flavour) -> bool:
    # tf-keras writes its classes as `keras.layers` (and its models as `tf_keras.src...`): both are its own.
    packages = ("keras",) if flavour == "keras3" else ("keras", "tf_keras")
    return module.split(".")[0] in packages


@cache
def _is_class_in(flavour: Flavour, namespace: str, class_name: str) -> bool:
    """A class of that public namespace; its helper functions (`serialize`, `get`) do not count."""
    candidate = (
        getattr(_namespace(flavour, namespace), class_name, None) if class_name.isidentifier() else None
    )
    return inspect.isclass(candidate) and class_name not in _CODE_CLASSES


@cache
def _registered_by_keras(flavour: Flavour, registered_name: str) -> bool:
    """What the loader will find under a registered name (an .h5 names no module) is Keras' own class."""
    found = _namespace(flavour, "saving").get_registered_object(registered_name)
    return inspect.isclass(found) and found.__module__.split(".")[0] in ("keras", "tf_keras")


@cache
def _is_builtin_function(flavour: Flavour, name: str) -> bool:
    if not name.isidentifier() or name in ("get", "serialize", "deserialize"):
        return False
    for namespace in _FUNCTION_MODULES:
        candidate = getattr(_namespace(flavour, namespace), name, None)
        if callable(candidate) and not inspect.isclass(candidate) and not inspect.ismodule(candidate):
            return True
    return False


@cache
def _is_keras3_operation(module: str, class_name: str) -> bool:
    from keras.src.ops.operation import Operation

    candidate = getattr(sys.modules.get(module), class_name, None) if class_name.isidentifier() else None
    return inspect.isclass(candidate) and issubclass(candidate, Operation)


def _namespace(flavour: Flavour, dotted: str) -> Any:
    if flavour == "keras3":
        import keras as root
    else:
        import tf_keras as root
    namespace: Any = root
    for part in dotted.split("."):
        namespace = getattr(namespace, part, None)
    return namespace
