"""Checking a fine-tuned model uploaded by the browser against the export it was trained from (no Flask here).

The upload (docs/FINETUNE_API.md) is three parts: `model` (JSON: a TFJS layers-model topology, its weight
specs, the samples' shape, a name and labels), `weights` (the concatenated float32 weight data) and
`samples` (float32 calibration inputs). Everything is checked here, in memory, before anything is written:
a rejected upload raises `UploadRejected` with its HTTP status (400 malformed, 413 too large) and one
message naming every problem of the first stage that found any.

The base model is the export's `tfjs-fp32` model.json. The upload's topology must match it layer by layer;
only the last Dense layer's `units` may grow (a head rebuilt with more classes) and `trainable` flags may
differ. Keys that do not change what the model computes (initializers, regularizers, constraints) are
ignored, and a key that one side leaves out counts as its default, because @tensorflow/tfjs 4.22 leaves out
some that tf-keras writes (see DEFAULTS). The model that is exported is built from the base topology (with
the grown head), never from the uploaded JSON, so nothing in the upload beyond the checked numbers reaches
tf-keras.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Json = dict[str, Any]

BASE_VARIANT = "tfjs-fp32"
MIN_SAMPLES = 1
MAX_SAMPLES = 2000
MAX_CLASSES = 10_000
WEIGHTS_FACTOR = 8  # the uploaded weights may be up to 8x the base model's float32 weights (a grown head)
MODEL_JSON_MIN_LIMIT = 1024 * 1024  # the `model` part: at least 1 MiB, or 4x the base model.json
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers
UNKNOWN_DIM_SAMPLE_BYTES = 16 * 1024 * 1024  # samples limit for inputs with a free (null) dimension
MAX_NAME = 100
MAX_SHOWN_PROBLEMS = 8
PARTS = ("model", "weights", "samples")
MODEL_KEYS = frozenset({"modelTopology", "weightSpecs", "format", "name", "labels", "samples"})
# Keys tfjs' save handler passes along that say nothing about the weights; accepted and ignored.
IGNORED_MODEL_KEYS = frozenset({"generatedBy", "convertedBy", "trainingConfig", "userDefinedMetadata"})
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


class UploadRejected(Exception):
    """The upload cannot be accepted; `status` is 400 (malformed) or 413 (too large)."""

    def __init__(self, status: int, problems: list[str]):
        self.status = status
        self.problems = problems
        shown = problems[:MAX_SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problem(s)" if more else ""))


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
        return None if self.head is None else int(_top_layer(self.topology, self.head)["config"]["units"])


@dataclass(frozen=True)
class Limits:
    model_json: int
    weights: int
    samples: int

    @property
    def total(self) -> int:
        return self.model_json + self.weights + self.samples + MULTIPART_OVERHEAD


@dataclass(frozen=True)
class Upload:
    """A checked upload: what the export needs and nothing else."""

    topology: Json  # the base topology, head grown to `classes` units: what gets built
    weights: dict[str, np.ndarray]  # name -> float32 array, every base weight exactly once
    samples: np.ndarray  # float32, shaped like the model input
    name: str
    labels: list[str] | None
    classes: int | None  # output units of the head (None: no Dense head)


# --- the base export --------------------------------------------------------------------------------------


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
        head=_layer_name(dense[-1]) if dense else None,
        model_json_bytes=len(json.dumps(model_json)),
    )


def limits(base: Base) -> Limits:
    weights = WEIGHTS_FACTOR * 4 * sum(spec.count for spec in base.weights)
    dims = base.input_shape[1:]
    per_sample = 4 * math.prod(d for d in dims if d is not None)
    samples = MAX_SAMPLES * per_sample if None not in dims else UNKNOWN_DIM_SAMPLE_BYTES
    return Limits(max(MODEL_JSON_MIN_LIMIT, 4 * base.model_json_bytes), max(weights, 1024), samples)


# --- the upload -------------------------------------------------------------------------------------------


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
    _check_sizes(base, model, weights, samples)
    document = _parse_model_json(model)
    _check_fields(document)
    classes = _check_topology(base, document["modelTopology"])
    expected = _expected_weights(base, classes)
    _check_weight_specs(document["weightSpecs"], expected)
    labels = _check_labels(base, document.get("labels"), classes)
    specs = [WeightSpec(spec["name"], tuple(spec["shape"])) for spec in document["weightSpecs"]]
    samples_shape = tuple(document["samples"]["shape"])
    _check_lengths(base, specs, weights, samples_shape, samples)
    decoded = _decode_weights(specs, weights)
    sample_array = np.frombuffer(samples, dtype="<f4").reshape(samples_shape).astype(np.float32)
    if not np.all(np.isfinite(sample_array)):
        raise UploadRejected(400, ["samples: NaN or Inf values; send finite float32 inputs"])
    topology = copy.deepcopy(base.topology)
    if base.head is not None and classes is not None:
        _top_layer(topology, base.head)["config"]["units"] = classes
    name = document.get("name")
    return Upload(
        topology=topology,
        weights=decoded,
        samples=sample_array,
        name=name if isinstance(name, str) else f"{base.name} (fine-tuned)",
        labels=labels,
        classes=classes,
    )


def too_large(size: int, base: Base) -> str:
    total = limits(base).total
    return f"upload too large: {size:,} bytes; the limit for fine-tuning this model is {total:,} bytes"


def _check_sizes(base: Base, model: bytes, weights: bytes, samples: bytes) -> None:
    """The whole upload against the total limit, and the JSON part against its own (it is parsed whole).

    The weights and samples are not capped one by one: their exact lengths follow from the JSON and are
    checked there, so a count that is too high is reported as such (400), not as a size.
    """
    size, limit = len(model) + len(weights) + len(samples), limits(base)
    if size > limit.total:
        raise UploadRejected(413, [too_large(size, base)])
    if len(model) > limit.model_json:
        raise UploadRejected(
            413,
            [f"part 'model' is {len(model):,} bytes; the limit for this model is {limit.model_json:,}"],
        )


def _parse_model_json(model: bytes) -> Json:
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
        raise UploadRejected(400, [f"model: expected a JSON object, got {_json_type(document)}"])
    return document


def _check_fields(document: Json) -> None:
    problems = []
    unknown = sorted(set(document) - MODEL_KEYS - IGNORED_MODEL_KEYS)
    if unknown:
        problems.append(f"model: unknown key(s) {', '.join(_show(k) for k in unknown[:5])}")
    if document.get("format") != "layers-model":
        problems.append(f"model.format is {_show(document.get('format'))}; expected 'layers-model'")
    if not isinstance(document.get("modelTopology"), dict):
        problems.append(
            f"model.modelTopology must be an object, got {_json_type(document.get('modelTopology'))}"
        )
    specs = document.get("weightSpecs")
    if not isinstance(specs, list):
        problems.append(f"model.weightSpecs must be a list, got {_json_type(specs)}")
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
        return [f"{where} must be an object {{name, shape, dtype}}, got {_json_type(spec)}"]
    problems = []
    if not isinstance(spec.get("name"), str):
        problems.append(f"{where}.name must be a string")
    else:
        where = f"{where} ({_show(spec['name'])})"
    shape = spec.get("shape")
    if not (isinstance(shape, list) and all(_is_count(d) for d in shape)):
        problems.append(f"{where}.shape must be a list of whole numbers >= 0")
    if spec.get("dtype") != "float32":
        problems.append(f"{where}.dtype is {_show(spec.get('dtype'))}; every weight must be float32")
    if spec.get("quantization") is not None:
        problems.append(f"{where} is quantized; save the fine-tuned model without quantization")
    return problems


def _check_topology(base: Base, topology: Json) -> int | None:
    """Problems where `topology` differs from the base's; returns the head's (possibly grown) units."""
    problems: list[str] = []
    found: dict[str, Any] = {}
    if topology.get("class_name") != base.topology.get("class_name"):
        problems.append(
            f"modelTopology is a {_show(topology.get('class_name'))} model; the base model is a "
            f"{_show(base.topology.get('class_name'))} model"
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
                f"modelTopology: layer {_show(base.head)} (Dense) has units={_show(units)}; the head may "
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
        problems.append(f"{where}.config must be an object, got {_json_type(upload)}")
        return
    base_layers, layers = base.get("layers") or [], upload.get("layers")
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        problems.append(f"{where}: config.layers must be a list of layer objects")
        return
    base_names = [_layer_name(layer) for layer in base_layers]
    names = [_layer_name(layer) for layer in layers]
    if names != base_names:
        problems.append(_layer_list_difference(where, base_names, names))
        return
    for key in ("input_layers", "output_layers"):
        if upload.get(key) != base.get(key):
            problems.append(
                f"{where}: {key} is {_show(upload.get(key))}; the base model has {_show(base.get(key))}"
            )
    for base_layer, layer in zip(base_layers, layers, strict=True):
        _compare_layer(base_layer, layer, where, head if top else None, found, problems)


def _compare_layer(
    base: Json, upload: Json, where: str, head: str | None, found: dict[str, Any], problems: list[str]
) -> None:
    name = _layer_name(base)
    owner = f"{where}: layer {_show(name)} ({base.get('class_name')})"
    if upload.get("class_name") != base.get("class_name"):
        problems.append(f"{owner} is a {_show(upload.get('class_name'))} layer in the upload")
        return
    if "inbound_nodes" in base and upload.get("inbound_nodes") != base["inbound_nodes"]:
        inputs, base_inputs = _show(upload.get("inbound_nodes")), _show(base["inbound_nodes"])
        problems.append(f"{owner} takes its inputs from {inputs}; the base model from {base_inputs}")
    config, base_config = upload.get("config"), base.get("config") or {}
    if not isinstance(config, dict):
        problems.append(f"{owner}: config must be an object, got {_json_type(config)}")
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
            shown_mine = "left out" if mine is _MISSING else _show(mine)
            shown_theirs = "does not set it" if theirs is _MISSING else f"has {_show(theirs)}"
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
            detail.append(f"extra {', '.join(_show(n) for n in extra[:5])}")
        if lacking:
            detail.append(f"missing {', '.join(_show(n) for n in lacking[:5])}")
        suffix = f" ({'; '.join(detail)})" if detail else ""
        return f"{where}: {len(names)} layers; the base model has {len(base_names)}{suffix}"
    index = next(i for i, (a, b) in enumerate(zip(names, base_names, strict=True)) if a != b)
    mine, theirs = _show(names[index]), _show(base_names[index])
    return f"{where}: layer {index} is {mine}; the base model has {theirs} there"


def _expected_weights(base: Base, classes: int | None) -> dict[str, tuple[int, ...]]:
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


def _check_weight_specs(specs: list[Json], expected: dict[str, tuple[int, ...]]) -> None:
    problems = []
    seen: set[str] = set()
    for spec in specs:
        name, shape = spec["name"], tuple(spec["shape"])
        if name in seen:
            problems.append(f"weightSpecs: weight {_show(name)} appears more than once")
        elif name not in expected:
            problems.append(f"weightSpecs: unknown weight {_show(name)} (the base model has no such weight)")
        elif shape != expected[name]:
            problems.append(
                f"weightSpecs: {_show(name)} has shape {list(shape)}; the model needs {list(expected[name])}"
            )
        seen.add(name)
    lacking = [name for name in expected if name not in seen]
    if lacking:
        problems.append(f"weightSpecs: missing weight(s) {', '.join(_show(n) for n in lacking)}")
    if problems:
        raise UploadRejected(400, problems)


def _check_labels(base: Base, labels: Any, classes: int | None) -> list[str] | None:
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


def _check_lengths(
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


def _decode_weights(specs: list[WeightSpec], weights: bytes) -> dict[str, np.ndarray]:
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
            [f"weights: {', '.join(_show(n) for n in broken)} hold NaN or Inf values; the model is broken"],
        )
    return decoded


# --- helpers ----------------------------------------------------------------------------------------------


def _top_layer(topology: Json, name: str) -> Json:
    return next(layer for layer in topology["config"]["layers"] if _layer_name(layer) == name)


def _layer_name(layer: Any) -> str:
    if not isinstance(layer, dict):
        return "?"
    config = layer.get("config")
    name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return name if isinstance(name, str) else "?"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME and value.isprintable()


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _show(value: Any, limit: int = 60) -> str:
    """A short repr of a value from the upload, for messages."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
