"""`export(options)`: load, fold, convert every variant, validate, write manifest and report, publish.

Order of work: every check that can fail fast runs before any conversion, and those that need no model
(options, the output folder, the data files' headers) before the model is loaded. A refusal creates
nothing: the folders above DIR, its lock and staging folder are made only once the model, the data and the
variants to build are known good. The export replaces DIR only when it succeeded with at least one variant.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from exporter import __version__
from exporter.build import build_variants
from exporter.config import DEFAULT_SHARD_SIZE, VARIANTS, Need, Target, VariantSpec
from exporter.context import Artifact, BrowserFile, ExportContext, encode_array, write_content_named
from exporter.data import ArrayRows, Dataset, Rows, array_dataset, fit_dataset, inspect_dataset
from exporter.errors import (
    DataError,
    ModelLoadError,
    UnsupportedModelError,
    ValidationError,
    parameter,
)
from exporter.input_spec import InputRequest, InputSpec, check_request, input_spec
from exporter.labels import check_count, read_labels
from exporter.loading import LoadedModel, load_model, load_model_object
from exporter.memory import release_memory
from exporter.outdir import EXPORT_RULE, check_replaceable, staged_output
from exporter.progress import Progress
from exporter.report import Row, fill_percentages, report_json, table
from exporter.validate import Reference, review_retrained

VALIDATION_SAMPLES = 1000  # enough for accuracy to 0.1 point; more only costs time
PARITY_BYTES = 2_000_000  # parity inputs per fixture: small models get 16 samples, MobileNet a few
EVAL_JSON_BYTES = 4_000_000
VARIANT_FAILED_EXIT = 3  # the export was written, but at least one variant failed (README: Reliability)


DATA_ROLES = ("calibration", "eval", "train")
LABELLED_ROLES = ("eval", "train")  # calibration data is inputs only


@dataclass(frozen=True)
class ExportOptions:
    """What to export, and where. Paths may be `str` or `Path`; from Python, `model` may also be a Keras
    model object (Keras 3 or tf-keras) and the data arrays: `calibration=x`, `eval=(x, y)`, `train=(x, y)`.
    """

    model: Path | str | Any  # a .keras / .h5 file, a SavedModel folder, or a keras.Model in memory
    out: Path | str
    variants: list[str] | None = None  # None: every variant the given data allows
    targets: list[str] = field(default_factory=lambda: [t.value for t in Target])
    calibration: Path | str | Any | None = None  # DATA.npz with array x, or the array x
    eval: Path | str | Any | None = None  # DATA.npz with arrays x, y, or the tuple (x, y)
    train: Path | str | Any | None = None  # DATA.npz with arrays x, y, or the tuple (x, y)
    qat_epochs: int = 2
    shard_size: int = DEFAULT_SHARD_SIZE
    fold_bn: bool = True
    allow_degraded: bool = False
    # What the manifest says about the input and classes (exporter/input_spec.py): labels (a list, or a
    # file with one per line), the pixel range, per-channel mean/std as "a,b,c" or numbers, color rgb|bgr|gray
    # and resize stretch|crop|pad; what is not given is inferred. `preprocessing`: the whole spec, as the
    # demo gives it (nothing inferred).
    name: str | None = None
    labels: list[str] | Path | str | None = None
    input_range: str | tuple[float, float] | list[float] | None = None
    mean: str | list[float] | None = None
    std: str | list[float] | None = None
    color: str | None = None
    resize: str | None = None
    preprocessing: dict[str, Any] | None = None
    source_folder: Path | None = None  # copied into DIR/source
    quiet: bool = False  # no progress lines and no table
    show_table: bool = True  # the report table on stdout (`edgeship export --json` prints JSON instead)

    def __post_init__(self) -> None:
        # Text paths become Paths, so the rest of the export sees one type (frozen: set through object).
        for name in ("model", "out", "source_folder", "labels", *DATA_ROLES):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)))


@dataclass
class ExportResult:
    exit_code: int
    out: Path
    rows: list[Row]
    manifest: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)  # what report.json holds


def export(options: ExportOptions) -> ExportResult:
    """Write the validated ladder to `options.out`; raises an EdgeshipError saying what to change."""
    progress = Progress(quiet=options.quiet)
    # Checks that read no model and create nothing: options, the output folder, the data files' layout.
    _check_options(options)
    labels = read_labels(options.labels)
    rule = replace(EXPORT_RULE, inputs=_inputs(options))
    out = Path(options.out)
    check_replaceable(out, rule)
    given = {role: getattr(options, role) for role in DATA_ROLES if getattr(options, role) is not None}
    files = {
        role: inspect_dataset(data, role, need_labels=role in LABELLED_ROLES)
        for role, data in given.items()
        if isinstance(data, Path)
    }
    if isinstance(options.model, Path):
        progress.step(f"loading {options.model}")
        source = load_model(options.model)
    else:
        source = load_model_object(options.model)
    _check_finite_weights(source)
    classes = _num_classes(source)
    calibration, evaluation, train = (
        None
        if role not in given
        else fit_dataset(files[role], source.input, classes)
        if role in files
        else array_dataset(given[role], role, source.input, classes, need_labels=role in LABELLED_ROLES)
        for role in DATA_ROLES
    )
    check_count(labels, classes, options.labels)
    spec = _preprocessing(options, source, evaluation or calibration or train)  # before the model is released
    if calibration is None and train is not None:
        progress.step("calibrating full-integer int8 on the --train inputs (no --calibration given)")
        calibration = Dataset("train", train.x, None, train.x_range)
    inference_model, folded, keras_problem = _inference_model(source, options.fold_bn, progress)
    plan = _plan(options, calibration, train, keras_problem)
    _check_something_to_build(options, plan)

    with staged_output(out, rule) as staging:
        samples = evaluation or calibration or train
        if samples is None:
            progress.step(
                "no data given: validating on random inputs in [0, 1); give --eval DATA.npz for accuracy"
            )
        valid = samples.x.limited(VALIDATION_SAMPLES) if samples else ArrayRows(_random_inputs(source))
        reference = _reference(source, valid, samples)
        described = _source(source)  # before release(): a model object's weights are what it is hashed by
        if inference_model is not None:
            source.release()
            release_memory()
        context = ExportContext(
            source=source,
            inference_model=inference_model,
            calibration=calibration,
            train=train,
            parity_inputs=valid.head(_parity_count(valid)),
            shard_size=options.shard_size,
            qat_epochs=options.qat_epochs,
            progress=progress,
        )
        rows, artifacts, failures = build_variants(plan, context, staging, valid, reference, progress)
        review_retrained(rows)  # QAT's notes: judged by accuracy; whether tflite-int8 is the better choice
        fill_percentages(rows)
        manifest = _manifest(options, source, described, folded, artifacts, rows, evaluation, staging)
        manifest.update(_input_fields(spec, labels, staging))
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
        reference_json = {"accuracy": reference.accuracy, "samples": len(valid), "data": reference.data}
        report = report_json(rows, reference_json, folded)
        report.update({"input": spec.report(), "labels": labels})
        (staging / "report.json").write_text(json.dumps(report, indent=1))
        if options.source_folder is not None:
            shutil.copytree(options.source_folder, staging / "source")
        if options.show_table and not options.quiet:
            print(_input_lines(spec, labels), table(rows), sep="\n", file=sys.stdout, flush=True)
        if failures and not options.allow_degraded:
            raise ValidationError(failures)
    failed = manifest["failed"]
    progress.step(f"wrote {len(artifacts)} variant(s) to {out}{f'; {len(failed)} failed' if failed else ''}")
    exit_code = VARIANT_FAILED_EXIT if failed else 0
    return ExportResult(exit_code=exit_code, out=out, rows=rows, manifest=manifest, report=report)


def _inputs(options: ExportOptions) -> tuple[tuple[str, Path], ...]:
    """What the output folder must never be nor hold: the model and the data files it is read from."""
    data = [(f"the {parameter(role)} data", getattr(options, role)) for role in DATA_ROLES]
    return tuple(
        (what, path) for what, path in [("the model", options.model), *data] if isinstance(path, Path)
    )


def _check_something_to_build(options: ExportOptions, plan: list[tuple[VariantSpec, str | None]]) -> None:
    """An export without a single variant would replace a working one with nothing: refuse it instead."""
    if any(reason is None for _, reason in plan):
        return
    by_reason: dict[str, list[str]] = {}
    for spec, reason in plan:
        by_reason.setdefault(str(reason), []).append(spec.id)
    reasons = "; ".join(f"{', '.join(ids)}: {reason}" for reason, ids in by_reason.items())
    hint = (
        f"add tflite to {parameter('targets')}"
        if Target.TFLITE not in options.targets
        else "give the data they need"
    )
    raise UnsupportedModelError(
        f"no variant can be built for {parameter('targets')} {','.join(options.targets)}, so {options.out} "
        f"was left as it was: {reasons}; {hint}"
    )


def _check_options(options: ExportOptions) -> None:
    check_request(_input_request(options))
    if options.qat_epochs < 1:
        raise DataError(f"{parameter('qat_epochs')} {options.qat_epochs}: give at least 1 epoch")
    if options.shard_size < 1024:
        raise DataError(f"{parameter('shard_size')} {options.shard_size}: give at least 1024 bytes")
    targets = [t.value for t in Target]
    for target in options.targets:
        if target not in targets:
            raise DataError(
                f"{parameter('targets')} {target} is not a target; choose from {', '.join(targets)}"
            )
    for variant in options.variants or []:
        if variant not in VARIANTS:
            raise DataError(
                f"{parameter('variants')} {variant} is not a variant; choose from {', '.join(VARIANTS)}"
            )
        if VARIANTS[variant].target not in options.targets:
            raise DataError(
                f"{parameter('variants')} {variant} is not in "
                f"{parameter('targets')} {','.join(options.targets)}"
            )


def _check_finite_weights(source: LoadedModel) -> None:
    if source.keras_model is None or not hasattr(source.keras_model, "layers"):
        return  # a plain SavedModel: its outputs are checked on the validation samples instead
    broken = [
        layer.name
        for layer in source.keras_model.layers
        if any(
            not np.all(np.isfinite(w))
            for w in layer.get_weights()
            if np.issubdtype(np.asarray(w).dtype, np.floating)
        )
    ]
    if broken:
        raise ModelLoadError(
            f"{source.path.name}: layer(s) {', '.join(broken)} hold NaN or Inf weights; the model is broken, "
            "retrain it or restore a good checkpoint"
        )


def _num_classes(source: LoadedModel) -> int | None:
    shape = source.output.shape
    return int(shape[-1]) if len(shape) == 2 and shape[-1] and shape[-1] > 1 else None


def _inference_model(
    source: LoadedModel, fold_bn: bool, progress: Progress
) -> tuple[Any | None, int, str | None]:
    """The tf-keras model all Keras-based variants share, batch norm folded; or why there is none."""
    if source.kind == "savedmodel":
        return None, 0, "the SavedModel has no Keras layers, which the TFJS layers format and QAT need"
    from exporter.keras_compat import to_tf_keras

    try:
        model = to_tf_keras(source.keras_model)
    except UnsupportedModelError as error:
        return None, 0, str(error)
    if not fold_bn:
        return model, 0, None
    from exporter.folding import fold_batchnorm

    folded_model, folded = fold_batchnorm(model)
    progress.step(f"folded {folded} batch normalization layer(s) into the layer before them")
    return folded_model, folded, None


def _plan(
    options: ExportOptions, calibration: Dataset | None, train: Dataset | None, keras_problem: str | None
) -> list[tuple[VariantSpec, str | None]]:
    """Each variant to consider, with the reason it must be skipped (None: build it)."""
    missing = {
        Need.CALIBRATION: None
        if calibration is not None
        else "needs --calibration DATA.npz (array x) "
        "to calibrate activations; edgeship never calibrates on random data",
        Need.TRAIN: None
        if train is not None
        else "needs --train DATA.npz (arrays x, y) for quantization-aware training",
        Need.KERAS: keras_problem,
    }
    plan = []
    for spec in VARIANTS.values():
        if spec.target not in options.targets or (options.variants and spec.id not in options.variants):
            continue
        reason = next((missing[need] for need in sorted(spec.needs) if missing[need]), None)
        if reason and options.variants:
            raise DataError(f"{spec.id} {reason}" if reason.startswith("needs") else f"{spec.id}: {reason}")
        plan.append((spec, reason))
    return plan


def _reference(source: LoadedModel, valid: Rows, samples: Dataset | None) -> Reference:
    """The float model's outputs on the validation inputs, with their labels when the data has them."""
    labels = None if samples is None or samples.y is None else samples.y[: len(valid)]
    return Reference(valid.map(source.predict), labels, samples.role if samples else "random")


def _random_inputs(source: LoadedModel) -> np.ndarray:
    shape = [64, *(d or 1 for d in source.input.shape[1:])]
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _parity_count(valid: Rows) -> int:
    per_sample = int(np.prod(valid.shape[1:])) * 4
    return int(max(1, min(16, len(valid), PARITY_BYTES // max(per_sample, 1))))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _input_request(options: ExportOptions) -> InputRequest:
    return InputRequest(options.input_range, options.mean, options.std, options.color, options.resize)


def _preprocessing(options: ExportOptions, source: LoadedModel, samples: Dataset | None) -> InputSpec:
    """The manifest's preprocessing: the caller's, else from the options, the model, the data (input_spec)."""
    data = (samples.role, samples.x_range) if samples is not None else None
    keras_model = source.keras_model if hasattr(source.keras_model, "layers") else None
    request = _input_request(options)
    return input_spec(request, source.input.shape, keras_model, data, options.preprocessing)


def _input_fields(spec: InputSpec, labels: list[str] | None, staging: Path) -> dict[str, Any]:
    """The manifest's preprocessing and labels; the labels also as a text file, one per line, for apps that
    take a .tflite with a labels.txt (there is no TFLite metadata: docs/EXPORT_FORMAT.md says why)."""
    fields: dict[str, Any] = {"preprocessing": spec.preprocessing}
    if labels is not None:
        text = "".join(f"{label}\n" for label in labels).encode()
        labels_file = write_content_named(staging, "labels", ".txt", text).as_posix()
        fields.update(labels=labels, labels_file=labels_file)
    return fields


def _input_lines(spec: InputSpec, labels: list[str] | None) -> str:
    """What the report shows above its table: how a pixel becomes an input, and the classes' names."""
    shown = "none (classes are shown by number)"
    if labels is not None:
        shown = f"{len(labels)} ({', '.join(labels[:5])}{', ...' if len(labels) > 5 else ''})"
    return f"input: {spec.summary()}\nlabels: {shown}"


# The variant the web app runs first: float32 (the model's own accuracy), on the faster browser runtime.
# LiteRT.js runs a .tflite file's browser copy ~2x faster than tfjs runs the layers model on MobileNetV2.
DEFAULT_VARIANTS = ("tflite-fp32", "tfjs-fp32")


def default_variant(variants: dict[str, Any]) -> str | None:
    """The first of DEFAULT_VARIANTS that was written (a .tflite one only with its browser file), else any."""
    for variant in DEFAULT_VARIANTS:
        entry = variants.get(variant)
        if entry is not None and (entry["target"] != "tflite" or "browser" in entry):
            return variant
    return next(iter(variants), None)


def _manifest(
    options: ExportOptions,
    source: LoadedModel,
    described: dict[str, Any],
    folded: int,
    artifacts: list[Artifact],
    rows: list[Row],
    evaluation: Dataset | None,
    staging: Path,
) -> dict[str, Any]:
    variants = {}
    by_variant = {row.variant: row for row in rows}
    for artifact in artifacts:
        files = [_file_entry(staging, f) for f in artifact.files]
        variants[artifact.spec.id] = {
            "target": str(artifact.spec.target),
            "precision": str(artifact.spec.precision),
            "entry": artifact.entry.as_posix(),
            "bytes": sum(f["bytes"] for f in files),
            "files": files,
            **artifact.manifest_fields,
            "parity": artifact.parity_path.as_posix(),
            "load_ms": by_variant[artifact.spec.id].load_ms,
            "peak_memory_bytes": by_variant[artifact.spec.id].peak_memory_bytes,
            "peak_memory_kind": by_variant[artifact.spec.id].peak_memory_kind,
        }
        if artifact.browser is not None:
            variants[artifact.spec.id]["browser"] = _browser_entry(staging, artifact.browser)
    manifest: dict[str, Any] = {
        "format": "edgeship-export",
        "format_version": 1,
        "name": options.name or Path(options.out).name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "edgeship_version": __version__,
        "source": described,
        "input": source.input.as_json(),
        "output": source.output.as_json(),
        "folded_batchnorm": folded,
        "default_variant": default_variant(variants),
        "variants": variants,
        "skipped": {row.variant: row.reason for row in rows if row.status == "skipped"},
        "failed": {row.variant: row.reason for row in rows if row.status == "failed"},
    }
    if evaluation is not None:
        manifest["eval"] = _write_eval(evaluation, staging)
    return manifest


def _file_entry(staging: Path, relative: Path) -> dict[str, Any]:
    path = staging / relative
    return {"path": relative.as_posix(), "bytes": path.stat().st_size, "sha256": _sha256(path)}


def _browser_entry(staging: Path, browser: BrowserFile) -> dict[str, Any]:
    """A TFLite variant's file for LiteRT.js in the web app (batch 1, float32 edges; EXPORT_FORMAT.md)."""
    files = [_file_entry(staging, browser.entry)]
    return {
        "runtime": "litert.js",
        "entry": browser.entry.as_posix(),
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "input_shape": browser.input_shape,
        "input_dtype": "float32",
        "output_dtype": "float32",
        "parity": browser.parity_path.as_posix(),
    }


def _source(source: LoadedModel) -> dict[str, Any]:
    """What the export was made from; a model object from Python has no file, so its weights are hashed."""
    if source.in_memory:
        digest = hashlib.sha256()
        for weight in source.keras_model.weights if source.keras_model is not None else []:
            digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
        return {"file": None, "kind": source.kind, "sha256": digest.hexdigest()}
    source_file = source.path / "saved_model.pb" if source.path.is_dir() else source.path
    return {"file": source.path.name, "kind": source.kind, "sha256": _sha256(source_file)}


def _write_eval(evaluation: Dataset, staging: Path) -> str:
    per_sample = int(np.prod(evaluation.x.shape[1:])) * 4
    count = int(max(1, min(500, len(evaluation.x), EVAL_JSON_BYTES // max(per_sample, 1))))
    assert evaluation.y is not None
    payload = {
        "inputs": encode_array(evaluation.x.head(count)),
        "labels": encode_array(evaluation.y[:count].astype(np.int32)),
    }
    return write_content_named(staging, "eval", ".json", json.dumps(payload).encode()).as_posix()
