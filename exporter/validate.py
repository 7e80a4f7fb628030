"""Validation: the float model and a variant on the same samples, checked against explicit tolerances.

Checks run in order (shape, finiteness, values, agreement, accuracy) and every failure is collected, so
one run reports everything that is wrong with a variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exporter.config import Tolerance


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
    metrics.max_abs_diff = float(np.max(np.abs(outputs.astype(np.float64) - reference.outputs)))
    if tolerance.max_abs_diff is not None and metrics.max_abs_diff > tolerance.max_abs_diff:
        metrics.failures.append(f"max abs diff {metrics.max_abs_diff:.3g} > {tolerance.max_abs_diff:g}")
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        metrics.agreement = float(np.mean(np.argmax(outputs, 1) == np.argmax(reference.outputs, 1)))
        if metrics.agreement < tolerance.min_agreement:
            metrics.failures.append(
                f"top-1 agreement {metrics.agreement:.1%} < {tolerance.min_agreement:.0%}"
            )
    metrics.accuracy = accuracy(outputs, reference.labels)
    if metrics.accuracy is not None and reference.accuracy is not None:
        metrics.accuracy_change = (metrics.accuracy - reference.accuracy) * 100.0
        drop = -metrics.accuracy_change
        if tolerance.max_accuracy_drop is not None and drop > tolerance.max_accuracy_drop + 1e-9:
            metrics.failures.append(f"accuracy drop {drop:.2f} points > {tolerance.max_accuracy_drop:g}")
    return metrics
