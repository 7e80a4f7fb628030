"""The uploaded topology against the base's: the same layers, wired the same way, computing the same thing.

The upload's topology must match the base model layer by layer; only the last Dense layer's `units` may
grow (a head rebuilt with more classes, up to MAX_CLASSES) and `trainable` flags may differ. Keys that do not
change what the model computes (initializers, regularizers, constraints) are ignored, and a key that one side
leaves out counts as its default, because @tensorflow/tfjs 4.22 leaves out some that tf-keras writes (see
DEFAULTS). The model that is exported is built from the base topology (with the grown head), never from the
uploaded JSON, so nothing in the upload beyond the checked numbers reaches tf-keras.
"""

from __future__ import annotations

from typing import Any

from webapp.finetune_checks.base import Base, Json, layer_name
from webapp.finetune_checks.rejection import UploadRejected, json_type, show
from webapp.finetune_checks.size_limits import MAX_CLASSES

# Config keys a tfjs save may leave out, with the value the base model then must have for them to agree.
# Found by loading exported models (25 layer classes) in @tensorflow/tfjs 4.22 and saving them again.
DEFAULTS: dict[str, Any] = {
    "dtype": "float32",
    "groups": 1,
    "negative_slope": 0.0,  # ReLU
    "threshold": 0.0,  # ReLU
    "ragged": False,  # InputLayer
    "sparse": False,  # InputLayer
    "depth_multiplier": 1,  # SeparableConv2D
    "keepdims": False,  # GlobalAveragePooling2D / GlobalMaxPooling2D
}


def check_topology(base: Base, topology: Json) -> int | None:
    """Problems where `topology` differs from the base's; returns the head's (possibly grown) units."""
    problems: list[str] = []
    found: dict[str, Any] = {}
    if topology.get("class_name") != base.topology.get("class_name"):
        problems.append(
            f"modelTopology is a {show(topology.get('class_name'))} model; the base model is a "
            f"{show(base.topology.get('class_name'))} model"
        )
    else:
        config = topology.get("config")
        _compare_config(
            base.topology.get("config"), config, "modelTopology", base.head, found, problems, True
        )
    if problems:
        raise UploadRejected(400, problems)
    if base.head is None:
        return None
    units = found.get("units")
    base_units = base.head_units
    assert base_units is not None
    if not isinstance(units, int) or isinstance(units, bool) or not base_units <= units <= MAX_CLASSES:
        raise UploadRejected(
            400,
            [
                f"modelTopology: layer {show(base.head)} (Dense) has units={show(units)}; the head may "
                f"only keep or grow its {base_units} units (at most {MAX_CLASSES})"
            ],
        )
    return units


def _compare_config(
    base: Any,
    upload: Any,
    where: str,
    head: str | None,
    found: dict[str, Any],
    problems: list[str],
    top: bool,
) -> None:
    """Compare a model config ({name, layers, input_layers, output_layers}) layer by layer."""
    if not isinstance(upload, dict):
        problems.append(f"{where}.config must be an object, got {json_type(upload)}")
        return
    base_layers, layers = base.get("layers") or [], upload.get("layers")
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        problems.append(f"{where}: config.layers must be a list of layer objects")
        return
    base_names = [layer_name(layer) for layer in base_layers]
    names = [layer_name(layer) for layer in layers]
    if names != base_names:
        problems.append(_layer_list_difference(where, base_names, names))
        return
    for key in ("input_layers", "output_layers"):
        if upload.get(key) != base.get(key):
            problems.append(
                f"{where}: {key} is {show(upload.get(key))}; the base model has {show(base.get(key))}"
            )
    for base_layer, layer in zip(base_layers, layers, strict=True):
        _compare_layer(base_layer, layer, where, head if top else None, found, problems)


def _compare_layer(
    base: Json, upload: Json, where: str, head: str | None, found: dict[str, Any], problems: list[str]
) -> None:
    name = layer_name(base)
    owner = f"{where}: layer {show(name)} ({base.get('class_name')})"
    if upload.get("class_name") != base.get("class_name"):
        problems.append(f"{owner} is a {show(upload.get('class_name'))} layer in the upload")
        return
    if "inbound_nodes" in base and upload.get("inbound_nodes") != base["inbound_nodes"]:
        inputs, base_inputs = show(upload.get("inbound_nodes")), show(base["inbound_nodes"])
        problems.append(f"{owner} takes its inputs from {inputs}; the base model from {base_inputs}")
    config, base_config = upload.get("config"), base.get("config") or {}
    if not isinstance(config, dict):
        problems.append(f"{owner}: config must be an object, got {json_type(config)}")
        return
    if base.get("class_name") in ("Functional", "Sequential", "Model"):
        _compare_config(base_config, config, f"{where}/{name}", None, found, problems, top=False)
        return
    for key in sorted(set(base_config) | set(config)):
        if _ignored(key):
            continue
        if name == head and key == "units":
            found["units"] = config.get("units")
            continue
        mine, theirs = config.get(key, _MISSING), base_config.get(key, _MISSING)
        if not _same(key, mine, theirs):
            shown_mine = "left out" if mine is _MISSING else show(mine)
            shown_theirs = "does not set it" if theirs is _MISSING else f"has {show(theirs)}"
            problems.append(f"{owner}: {key} is {shown_mine}; the base model {shown_theirs}")


_MISSING = object()


def _ignored(key: str) -> bool:
    """Keys that do not change what the model computes from its weights."""
    return key in ("trainable", "name") or key.endswith(("_initializer", "_regularizer", "_constraint"))


def _same(key: str, mine: Any, theirs: Any) -> bool:
    if mine is _MISSING and theirs is _MISSING:
        return True
    if mine is _MISSING or theirs is _MISSING:
        present = theirs if mine is _MISSING else mine
        return present is None or (key in DEFAULTS and _equal(present, DEFAULTS[key]))
    return _equal(mine, theirs)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality where 1 and 1.0 agree but True and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _layer_list_difference(where: str, base_names: list[str], names: list[str]) -> str:
    if len(names) != len(base_names):
        extra = [n for n in names if n not in base_names]
        lacking = [n for n in base_names if n not in names]
        detail = []
        if extra:
            detail.append(f"extra {', '.join(show(n) for n in extra[:5])}")
        if lacking:
            detail.append(f"missing {', '.join(show(n) for n in lacking[:5])}")
        suffix = f" ({'; '.join(detail)})" if detail else ""
        return f"{where}: {len(names)} layers; the base model has {len(base_names)}{suffix}"
    index = next(i for i, (a, b) in enumerate(zip(names, base_names, strict=True)) if a != b)
    mine, theirs = show(names[index]), show(base_names[index])
    return f"{where}: layer {index} is {mine}; the base model has {theirs} there"
