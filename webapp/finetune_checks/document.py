"""The model JSON of an upload: its fields, weight specs and labels, and the lengths of the binary parts.

The `model` part is parsed only after the size checks, and every field is checked for type and range
before any is used, so a hostile document fails with a message instead of a KeyError deep in the export.
The weight specs must name every weight of the base model exactly once, with its shape (the head's grown to
the upload's classes), and the `weights` and `samples` parts must be exactly as long as the specs and the
samples' shape say; the weights are then decoded and must be finite.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from webapp.finetune_checks.base import Base, Json, WeightSpec
from webapp.finetune_checks.rejection import UploadRejected, json_type, show
from webapp.finetune_checks.size_limits import MAX_SAMPLES, MIN_SAMPLES, limits

MAX_NAME = 100
MODEL_KEYS = frozenset({"modelTopology", "weightSpecs", "format", "name", "labels", "samples"})
# Keys tfjs' save handler passes along that say nothing about the weights; accepted and ignored.
IGNORED_MODEL_KEYS = frozenset({"generatedBy", "convertedBy", "trainingConfig", "userDefinedMetadata"})


def parse_model_json(model: bytes) -> Json:
    try:
        text = model.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected(400, ["model: not UTF-8 text; send the model part as JSON"]) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UploadRejected(
            400, [f"model: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"]
        ) from None
    except RecursionError:
        raise UploadRejected(400, ["model: JSON nested too deeply"]) from None
    if not isinstance(document, dict):
        raise UploadRejected(400, [f"model: expected a JSON object, got {json_type(document)}"])
    return document


def check_fields(document: Json) -> None:
    problems = []
    unknown = sorted(set(document) - MODEL_KEYS - IGNORED_MODEL_KEYS)
    if unknown:
        problems.append(f"model: unknown key(s) {', '.join(show(k) for k in unknown[:5])}")
    if document.get("format") != "layers-model":
        problems.append(f"model.format is {show(document.get('format'))}; expected 'layers-model'")
    if not isinstance(document.get("modelTopology"), dict):
        problems.append(
            f"model.modelTopology must be an object, got {json_type(document.get('modelTopology'))}"
        )
    specs = document.get("weightSpecs")
    if not isinstance(specs, list):
        problems.append(f"model.weightSpecs must be a list, got {json_type(specs)}")
    else:
        problems.extend(
            problem for index, spec in enumerate(specs) for problem in _spec_problems(index, spec)
        )
    samples = document.get("samples")
    shape = samples.get("shape") if isinstance(samples, dict) else None
    if not (isinstance(shape, list) and shape and all(_is_count(d) for d in shape)):
        problems.append('model.samples must be {"shape": [n, ...]} with whole numbers >= 0')
    name = document.get("name")
    if name is not None and not _is_text(name):
        problems.append(f"model.name must be a string of 1 to {MAX_NAME} printable characters")
    labels = document.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(_is_text(label) for label in labels)):
        problems.append(f"model.labels must be a list of strings of 1 to {MAX_NAME} printable characters")
    if problems:
        raise UploadRejected(400, problems)


def _spec_problems(index: int, spec: Any) -> list[str]:
    where = f"model.weightSpecs[{index}]"
    if not isinstance(spec, dict):
        return [f"{where} must be an object {{name, shape, dtype}}, got {json_type(spec)}"]
    problems = []
    if not isinstance(spec.get("name"), str):
        problems.append(f"{where}.name must be a string")
    else:
        where = f"{where} ({show(spec['name'])})"
    shape = spec.get("shape")
    if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
        problems.append(f"{where}.shape must be a list of whole numbers >= 0")
    if spec.get("dtype") != "float32":
        problems.append(f"{where}.dtype is {show(spec.get('dtype'))}; every weight must be float32")
    if spec.get("quantization") is not None:
        problems.append(f"{where} is quantized; save the fine-tuned model without quantization")
    return problems


def expected_weights(base: Base, classes: int | None) -> dict[str, tuple[int, ...]]:
    expected = {spec.name: spec.shape for spec in base.weights}
    if base.head is None or classes is None:
        return expected
    for suffix in ("kernel", "bias"):
        name = f"{base.head}/{suffix}"
        if name in expected:
            expected[name] = (*expected[name][:-1], classes)
    limit = limits(base).weights
    total = 4 * sum(math.prod(shape) for shape in expected.values())
    if total > limit:
        raise UploadRejected(
            413, [f"a head of {classes} classes makes the weights {total:,} bytes; the limit is {limit:,}"]
        )
    return expected


def check_weight_specs(specs: list[Json], expected: dict[str, tuple[int, ...]]) -> None:
    problems = []
    seen: set[str] = set()
    for spec in specs:
        name, shape = spec["name"], tuple(spec["shape"])
        if name in seen:
            problems.append(f"weightSpecs: weight {show(name)} appears more than once")
        elif name not in expected:
            problems.append(f"weightSpecs: unknown weight {show(name)} (the base model has no such weight)")
        elif shape != expected[name]:
            problems.append(
                f"weightSpecs: {show(name)} has shape {list(shape)}; the model needs {list(expected[name])}"
            )
        seen.add(name)
    lacking = [name for name in expected if name not in seen]
    if lacking:
        problems.append(f"weightSpecs: missing weight(s) {', '.join(show(n) for n in lacking)}")
    if problems:
        raise UploadRejected(400, problems)


def check_labels(base: Base, labels: Any, classes: int | None) -> list[str] | None:
    """The labels to publish: the upload's, else the base's (grown heads get index labels for new classes)."""
    if labels is not None:
        if classes is not None and len(labels) != classes:
            raise UploadRejected(
                400, [f"model.labels has {len(labels)} labels; the model has {classes} classes"]
            )
        return list(labels)
    if base.labels is None or classes is None or len(base.labels) > classes:
        return base.labels
    return base.labels + [str(index) for index in range(len(base.labels), classes)]


def check_lengths(
    base: Base, specs: list[WeightSpec], weights: bytes, samples_shape: tuple[int, ...], samples: bytes
) -> None:
    problems = []
    values = sum(spec.count for spec in specs)
    if len(weights) != 4 * values:
        problems.append(
            f"weights: {len(weights):,} bytes, but weightSpecs describe {4 * values:,} "
            f"({values:,} float32 values)"
        )
    n, dims = samples_shape[0], samples_shape[1:]
    wanted = base.input_shape[1:]
    shown = "[n, " + ", ".join("?" if d is None else str(d) for d in wanted) + "]"
    if len(dims) != len(wanted) or any(w is not None and w != d for w, d in zip(wanted, dims, strict=False)):
        problems.append(f"samples: shape {list(samples_shape)} does not fit the model input {shown}")
    elif any(d == 0 for d in dims):
        problems.append(f"samples: shape {list(samples_shape)} has an empty dimension")
    elif not MIN_SAMPLES <= n <= MAX_SAMPLES:
        problems.append(f"samples: {n:,} samples; send {MIN_SAMPLES} to {MAX_SAMPLES}")
    elif len(samples) != 4 * math.prod(samples_shape):
        problems.append(
            f"samples: {len(samples):,} bytes, but shape {list(samples_shape)} needs "
            f"{4 * math.prod(samples_shape):,} (float32)"
        )
    if problems:
        raise UploadRejected(400, problems)


def decode_weights(specs: list[WeightSpec], weights: bytes) -> dict[str, np.ndarray]:
    decoded: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        array = np.frombuffer(weights, dtype="<f4", count=spec.count, offset=offset).reshape(spec.shape)
        decoded[spec.name] = array.astype(np.float32)
        offset += 4 * spec.count
    broken = [name for name, array in decoded.items() if not np.all(np.isfinite(array))]
    if broken:
        raise UploadRejected(
            400,
            [f"weights: {', '.join(show(n) for n in broken)} hold NaN or Inf values; the model is broken"],
        )
    return decoded


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME and value.isprintable()
