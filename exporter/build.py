"""Building the ladder: every planned variant converted, validated and measured, each on its own.

One variant that fails (an error, a bug, its time limit) becomes a `failed` row with its one-line reason
(`skipped` for a layer its target cannot take) and leaves no file in the staging folder; the next one is built
as if it had never run. The pipeline (exporter/pipeline.py) plans the variants and writes what this returns.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from exporter.bounded import StepLimit, bounded, step_timeout_s
from exporter.config import Target, VariantSpec
from exporter.context import Artifact, ExportContext
from exporter.costs import tfjs_cost, tflite_costs
from exporter.data import Rows
from exporter.errors import ConversionError, EdgeshipError, StepTimeout, UnsupportedModelError
from exporter.memory import release_memory
from exporter.progress import Progress
from exporter.report import Row
from exporter.targets import CONVERTERS
from exporter.validate import Metrics, Reference, validate

NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # disk full, quota, file size limit (as outdir's)


def build_variants(
    plan: list[tuple[VariantSpec, str | None]],
    context: ExportContext,
    staging: Path,
    valid: Rows,
    reference: Reference,
    progress: Progress,
) -> tuple[list[Row], list[Artifact], list[str]]:
    """Build, validate and measure every planned variant, each on its own: one that fails (an error, a
    bug, its time limit) becomes a `failed` row with its reason (`skipped` for a layer its target cannot
    take) and leaves no file behind, and the next one is built as if it had never run. Raises only when no
    variant that was tried could be built."""
    rows, artifacts, failures = [], [], []
    errors: dict[str, Exception] = {}
    limit = step_timeout_s()
    for index, (spec, skip) in enumerate(plan, start=1):
        row = Row(variant=spec.id, target=str(spec.target), precision=str(spec.precision), status="ok")
        rows.append(row)
        if skip:
            row.status, row.reason = "skipped", skip
            progress.step(f"[{index}/{len(plan)}] {spec.id}: skipped ({skip})")
            continue
        progress.step(f"[{index}/{len(plan)}] {spec.id}: converting")
        before = set(staging.rglob("*"))
        step = bounded(limit, spec.id)
        try:
            with step:
                artifact, metrics = _build_one(spec, context, staging, valid, reference)
        except Exception as error:  # one variant's failure, whatever it is, never costs the others
            if isinstance(error, OSError) and error.errno in NO_SPACE:
                raise  # a full disk is every variant's problem: staged_output says so, in one line
            _remove_new_files(staging, before)
            timeout = _timeout(error, step)
            errors[spec.id] = error if timeout is None else StepTimeout(timeout)
            row.reason = _failure_reason(error, spec.id, step)
            # A layer the target cannot take is a reason to skip the variant, as missing data is; anything
            # else (a converter that broke, a time limit, a bug) is a failure (exit 3).
            cannot_take = isinstance(error, UnsupportedModelError) and timeout is None
            row.status = "skipped" if cannot_take else "failed"
            progress.step(f"[{index}/{len(plan)}] {spec.id}: {row.status} ({row.reason})")
            continue
        finally:
            release_memory()
        artifacts.append(artifact)
        row.bytes = sum((staging / f).stat().st_size for f in artifact.files)
        row.latency_ms = artifact.latency_ms
        row.notes = list(artifact.notes)
        row.max_abs_diff, row.agreement = metrics.max_abs_diff, metrics.agreement
        row.accuracy, row.accuracy_change = metrics.accuracy, metrics.accuracy_change
        if metrics.failures:
            row.status, row.reason = "degraded", "; ".join(metrics.failures)
            failures.append(f"{spec.id}: {row.reason}")
    if errors and not artifacts:
        _raise_all_failed(errors, rows)
    _measure_costs(rows, artifacts, staging, progress)
    return rows, artifacts, failures


def _build_one(
    spec: VariantSpec, context: ExportContext, staging: Path, valid: Rows, reference: Reference
) -> tuple[Artifact, Metrics]:
    artifact = CONVERTERS[spec.target](context, spec, staging)
    assert artifact.runner is not None, "every converter returns a runner for its variant"
    metrics = validate(valid.map(artifact.runner.predict), reference, spec.tolerance)
    artifact.runner = None  # its interpreter holds the model and an arena: free them before the next one
    return artifact, metrics


def _failure_reason(error: Exception, variant: str, step: StepLimit) -> str:
    """One line for the report: the error's own message (without the variant's name, which the row has);
    a time limit's message even where a library wrapped the StepTimeout in an error of its own."""
    timeout = _timeout(error, step)
    if timeout is not None:
        text = timeout
    elif isinstance(error, EdgeshipError):
        text = str(error)
    elif isinstance(error, MemoryError):
        text = "ran out of memory; free memory (close other programs), or export this variant on its own"
    else:
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
        shown = f"{type(error).__name__}: {first[:200]}" if first else type(error).__name__
        text = f"internal error: {shown}; this is a bug, please report it"
    text = " ".join(text.split())  # one line, whatever the library put in its message
    return text.removeprefix(f"{variant}: ")


def _timeout(error: Exception, step: StepLimit) -> str | None:
    """The time limit's message if the variant ran out of time, even where a library caught the StepTimeout
    and raised an error of its own."""
    timeout = next((e for e in _chain(error) if isinstance(e, StepTimeout)), None)
    return str(timeout) if timeout is not None else step.message if step.expired else None


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised from or during (`from None` hides them from tracebacks only)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _remove_new_files(staging: Path, before: set[Path]) -> None:
    """Remove what a failed variant wrote into the staging folder (files first, then its empty folders)."""
    for path in sorted(set(staging.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _raise_all_failed(errors: dict[str, Exception], rows: list[Row]) -> None:
    """Nothing to publish: the one variant's own error, or one error naming every variant's reason."""
    if len(errors) == 1:
        (error,) = errors.values()
        if isinstance(error, EdgeshipError):
            raise error
    reasons = "; ".join(
        str(row.reason) if str(row.reason).startswith(row.variant) else f"{row.variant}: {row.reason}"
        for row in rows
        if row.variant in errors
    )
    raise ConversionError(f"no variant could be built, so the export was not written: {reasons}")


def _measure_costs(rows: list[Row], artifacts: list[Artifact], staging: Path, progress: Progress) -> None:
    """Load time and peak memory of each written variant (exporter/costs.py): one probe process for all
    the TFLite files; for TFJS, the float32 weights tfjs holds once loaded."""
    by_variant = {row.variant: row for row in rows}
    tflite = [a for a in artifacts if a.spec.target is Target.TFLITE]
    if tflite:
        progress.step(f"measuring load time and peak memory of {len(tflite)} TFLite file(s) in a new process")
    measured, problem = tflite_costs([staging / a.entry for a in tflite])
    if problem is not None:
        for artifact in tflite:
            by_variant[artifact.spec.id].notes.append(f"load time and peak memory not measured: {problem}")
    costs = dict(zip((a.spec.id for a in tflite), measured, strict=False))
    for artifact in artifacts:
        if artifact.spec.target is Target.TFJS:
            costs[artifact.spec.id] = tfjs_cost(staging / artifact.entry)
    for variant, cost in costs.items():
        row = by_variant[variant]
        row.load_ms, row.peak_memory_bytes, row.peak_memory_kind = (
            cost.load_ms, cost.peak_memory_bytes, cost.peak_memory_kind,
        )  # fmt: skip
