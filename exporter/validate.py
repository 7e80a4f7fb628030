"""Validation: the float model and a variant on the same samples, checked against explicit tolerances.

Checks run in order (shape, finiteness, values, agreement, accuracy) and every failure is collected, so
one run reports everything that is wrong with a variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exporter.config import VARIANTS, Precision, Target, Tolerance
from exporter.report import Row

JUDGED_BY_ACCURACY = "judged by accuracy (QAT retrains the weights)"
JUDGED_BY_AGREEMENT = "judged by top-1 agreement with the float model (no labels to measure accuracy)"


@dataclass(frozen=True)
class Reference:
    """The float model's outputs on the validation samples, computed once for all variants."""

    outputs: np.ndarray
    labels: np.ndarray | None
    data: str  # which data the samples came from: eval, calibration, train or random

    @property
    def accuracy(self) -> float | None:
        return accuracy(self.outputs, self.labels)


@dataclass
class Metrics:
    max_abs_diff: float | None = None
    agreement: float | None = None
    accuracy: float | None = None
    accuracy_change: float | None = None  # percentage points against the float model
    failures: list[str] = field(default_factory=list)
    judged_by: str = "agreement"  # "accuracy" for a variant judged by its accuracy change (QAT with labels)


def accuracy(outputs: np.ndarray, labels: np.ndarray | None) -> float | None:
    if labels is None or outputs.ndim != 2:
        return None
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


def validate(outputs: np.ndarray, reference: Reference, tolerance: Tolerance) -> Metrics:
    metrics = Metrics()
    if outputs.shape != reference.outputs.shape:
        metrics.failures.append(
            f"output shape {outputs.shape} differs from the float model's {reference.outputs.shape}"
        )
        return metrics
    if not np.all(np.isfinite(outputs)):
        metrics.failures.append("outputs contain NaN or Inf")
        return metrics
    metrics.accuracy = accuracy(outputs, reference.labels)
    # A variant that retrains its weights (QAT) is meant to differ from the float model: with labels, only
    # its accuracy says whether it is worse.
    by_accuracy = tolerance.judge_by_accuracy and metrics.accuracy is not None
    metrics.max_abs_diff = float(np.max(np.abs(outputs.astype(np.float64) - reference.outputs)))
    limit = None if by_accuracy else tolerance.max_abs_diff
    if limit is not None and metrics.max_abs_diff > limit:
        metrics.failures.append(f"max abs diff {metrics.max_abs_diff:.3g} > {limit:g}")
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        agrees = np.argmax(outputs, 1) == np.argmax(reference.outputs, 1)
        metrics.agreement = float(np.mean(agrees))
        decisive = _decisive(reference.outputs, limit)
        gated = float(np.mean(agrees[decisive])) if decisive.any() else 1.0
        if gated < tolerance.min_agreement and not by_accuracy:
            where = "" if decisive.all() else f" on the {int(decisive.sum())} samples the float model decides"
            margin = "" if decisive.all() else f" by more than {2 * limit:g}" if limit is not None else ""
            metrics.failures.append(
                f"top-1 agreement {gated:.1%} < {tolerance.min_agreement:.0%}{where}{margin}"
            )
    if metrics.accuracy is not None and reference.accuracy is not None:
        metrics.accuracy_change = (metrics.accuracy - reference.accuracy) * 100.0
        drop = -metrics.accuracy_change
        if tolerance.max_accuracy_drop is not None and drop > tolerance.max_accuracy_drop + 1e-9:
            metrics.failures.append(f"accuracy drop {drop:.2f} points > {tolerance.max_accuracy_drop:g}")
    if by_accuracy:
        metrics.judged_by = "accuracy"
    return metrics


def _decisive(reference: np.ndarray, limit: float | None) -> np.ndarray:
    """The samples whose float top-1 a variant within `limit` of every output cannot flip: those the float
    model decides by a margin over 2 x limit. A flip among the others (near-ties, common in briefly trained
    models) is what the value bound already allows, so agreement is gated on the decisive samples only.
    Without a value bound (int8) every sample counts."""
    if limit is None:
        return np.ones(len(reference), dtype=bool)
    top2 = np.sort(reference, axis=1)[:, -2:]
    return np.asarray((top2[:, 1] - top2[:, 0]) > 2 * limit)


def review_retrained(rows: list[Row]) -> None:
    """Notes beside each written variant that retrains the weights (QAT): how it was judged, and, where its
    accuracy trails post-training tflite-int8's, that tflite-int8 is the better choice."""
    written = {row.variant: row for row in rows if row.status in ("ok", "degraded")}
    int8 = written.get(f"{Target.TFLITE}-{Precision.INT8}")
    for row in written.values():
        if not VARIANTS[row.variant].tolerance.judge_by_accuracy:
            continue
        if row.accuracy is None:
            row.notes.append(JUDGED_BY_AGREEMENT)
            continue
        row.notes.append(JUDGED_BY_ACCURACY)
        if int8 is not None and int8.accuracy is not None and row.accuracy < int8.accuracy:
            row.notes.append(
                f"its accuracy {row.accuracy:.1%} trails tflite-int8's {int8.accuracy:.1%}: use tflite-int8, "
                "which needs no training (more --qat-epochs or --train samples may close the gap)"
            )
