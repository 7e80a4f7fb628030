"""What every part that reads a serialised Keras model shares: the walk over its layers and their names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Config = dict[str, Any]


# Config keys under which wrappers (Bidirectional, TimeDistributed) and RNNs keep the layers they own.
NESTED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")


# Keys that only describe how Keras 3 (de)serialises an object; tf-keras and tfjs-layers read none of them.
SERIALISATION_KEYS = ("module", "registered_name", "build_config", "compile_config", "shared_object_id")


def iter_layer_entries(entry: Config) -> Iterator[Config]:
    """Depth-first over a serialised layer and every layer inside it (nested models, wrapped layers)."""
    yield entry
    inner = entry.get("config")
    if not isinstance(inner, dict):
        return
    children: list[Any] = list(inner.get("layers") or [])
    for key in NESTED_LAYER_KEYS:
        value = inner.get(key)
        children.extend(value if isinstance(value, list) else [value])
    for child in children:
        if isinstance(child, dict) and "class_name" in child:
            yield from iter_layer_entries(child)


def entry_name(entry: Config) -> str:
    inner = entry.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    return str(name or entry.get("name") or "?")


def short_name(name: str) -> str:
    """`conv2d/kernel:0` (tf-keras) and `kernel` (Keras 3) both become `kernel`."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]
