"""`validate`: an upload's parts through every stage of the checks, in order, to the `Upload` that gets built.

The order is the cheap and certain first: the parts are present, their sizes within the base's limits,
the JSON a well-formed document, its topology the base's, its weight specs the base's weights, the binary
parts exactly as long as the document says, and every value finite. Only then is the topology to build
made, as a copy of the base's with the head grown to the upload's classes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from webapp.finetune_checks.base import Base, Json, WeightSpec, top_layer
from webapp.finetune_checks.document import (
    check_fields,
    check_labels,
    check_lengths,
    check_weight_specs,
    decode_weights,
    expected_weights,
    parse_model_json,
)
from webapp.finetune_checks.rejection import UploadRejected
from webapp.finetune_checks.size_limits import check_sizes
from webapp.finetune_checks.topology import check_topology

PARTS = ("model", "weights", "samples")


@dataclass(frozen=True)
class Upload:
    """A checked upload: what the export needs and nothing else."""

    topology: Json  # the base topology, head grown to `classes` units: what gets built
    weights: dict[str, np.ndarray]  # name -> float32 array, every base weight exactly once
    samples: np.ndarray  # float32, shaped like the model input
    name: str
    labels: list[str] | None
    classes: int | None  # output units of the head (None: no Dense head)


def validate(base: Base, model: bytes | None, weights: bytes | None, samples: bytes | None) -> Upload:
    """Check every part of an upload against `base`; the checked upload, or UploadRejected."""
    parts = {"model": model, "weights": weights, "samples": samples}
    missing = [name for name in PARTS if parts[name] is None]
    if missing:
        raise UploadRejected(
            400,
            [
                f"missing part(s) {', '.join(missing)}; send multipart/form-data with the parts "
                "model (JSON), weights and samples (binary)"
            ],
        )
    assert model is not None and weights is not None and samples is not None
    check_sizes(base, model, weights, samples)
    document = parse_model_json(model)
    check_fields(document)
    classes = check_topology(base, document["modelTopology"])
    expected = expected_weights(base, classes)
    check_weight_specs(document["weightSpecs"], expected)
    labels = check_labels(base, document.get("labels"), classes)
    specs = [WeightSpec(spec["name"], tuple(spec["shape"])) for spec in document["weightSpecs"]]
    samples_shape = tuple(document["samples"]["shape"])
    check_lengths(base, specs, weights, samples_shape, samples)
    decoded = decode_weights(specs, weights)
    sample_array = np.frombuffer(samples, dtype="<f4").reshape(samples_shape).astype(np.float32)
    if not np.all(np.isfinite(sample_array)):
        raise UploadRejected(400, ["samples: NaN or Inf values; send finite float32 inputs"])
    topology = copy.deepcopy(base.topology)
    if base.head is not None and classes is not None:
        top_layer(topology, base.head)["config"]["units"] = classes
    name = document.get("name")
    return Upload(
        topology=topology,
        weights=decoded,
        samples=sample_array,
        name=name if isinstance(name, str) else f"{base.name} (fine-tuned)",
        labels=labels,
        classes=classes,
    )
