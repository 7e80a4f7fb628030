"""What every part that reads a serialised Keras model shares: where layers nest, and their names."""

from __future__ import annotations

from typing import Any

Config = dict[str, Any]


# Config keys under which wrappers (Bidirectional, TimeDistributed) and RNNs keep the layers they own.
NESTED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")


# Keys that only describe how Keras 3 (de)serialises an object; tf-keras and tfjs-layers read none of them.
SERIALISATION_KEYS = ("module", "registered_name", "build_config", "compile_config", "shared_object_id")


def entry_name(entry: Config) -> str:
    inner = entry.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    return str(name or entry.get("name") or "?")


def short_name(name: str) -> str:
    """`conv2d/kernel:0` (tf-keras) and `kernel` (Keras 3) both become `kernel`."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]
