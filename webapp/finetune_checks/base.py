"""The base export an upload is checked against: its tfjs-fp32 topology, weights, input shape and head.

The base model is the export's `tfjs-fp32` model.json, the model the browser fine-tuned. Only plain float32
weights can be fine-tuned; a base model this module cannot read raises `BaseUnusable` (the export's fault,
not the upload's). The head is the last top-level Dense layer: the one layer whose `units` may grow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

BASE_VARIANT = "tfjs-fp32"


class BaseUnusable(Exception):
    """The base export cannot be fine-tuned (no tfjs-fp32 variant, or one this module cannot read)."""


@dataclass(frozen=True)
class WeightSpec:
    name: str
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Base:
    """What the base export allows an upload to be."""

    id: str
    name: str
    topology: Json  # the tfjs-fp32 modelTopology
    weights: tuple[WeightSpec, ...]
    input_shape: tuple[int | None, ...]  # batch dimension first
    labels: list[str] | None
    preprocessing: Json | None
    head: str | None  # name of the last top-level Dense layer
    model_json_bytes: int

    @property
    def head_units(self) -> int | None:
        return None if self.head is None else int(top_layer(self.topology, self.head)["config"]["units"])


def read_base(export_id: str, manifest: Json, model_json: Any) -> Base:
    """The base model from its manifest and its tfjs-fp32 model.json; BaseUnusable when it has none."""
    if not isinstance(model_json, dict) or not isinstance(model_json.get("modelTopology"), dict):
        raise BaseUnusable(f"export '{export_id}' has no readable {BASE_VARIANT} model to fine-tune")
    topology = model_json["modelTopology"]
    specs: list[WeightSpec] = []
    try:
        for group in model_json["weightsManifest"]:
            for weight in group["weights"]:
                if weight.get("dtype") != "float32" or weight.get("quantization"):
                    raise BaseUnusable(
                        f"export '{export_id}': weight '{weight.get('name')}' of its {BASE_VARIANT} model is "
                        "not plain float32, so it cannot be fine-tuned"
                    )
                specs.append(WeightSpec(str(weight["name"]), tuple(int(d) for d in weight["shape"])))
        input_shape = tuple(None if d is None else int(d) for d in manifest["input"]["shape"])
        layers = topology["config"]["layers"]
    except (KeyError, TypeError, ValueError):
        raise BaseUnusable(
            f"export '{export_id}' has no readable {BASE_VARIANT} model to fine-tune"
        ) from None
    dense = [layer for layer in layers if isinstance(layer, dict) and layer.get("class_name") == "Dense"]
    labels = manifest.get("labels")
    preprocessing = manifest.get("preprocessing")
    return Base(
        id=export_id,
        name=str(manifest.get("name") or export_id),
        topology=topology,
        weights=tuple(specs),
        input_shape=input_shape,
        labels=[str(label) for label in labels] if isinstance(labels, list) else None,
        preprocessing=preprocessing if isinstance(preprocessing, dict) else None,
        head=layer_name(dense[-1]) if dense else None,
        model_json_bytes=len(json.dumps(model_json)),
    )


def top_layer(topology: Json, name: str) -> Json:
    return next(layer for layer in topology["config"]["layers"] if layer_name(layer) == name)


def layer_name(layer: Any) -> str:
    if not isinstance(layer, dict):
        return "?"
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return name if isinstance(name, str) else "?"
