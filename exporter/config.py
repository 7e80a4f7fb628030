"""What can be exported: targets, precisions, what each needs, and how close it must stay to the float model.

A variant id is `TARGET-PRECISION`, for example `tflite-int8` or `tfjs-fp16`; the ids are also the CLI's
`--variants` choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Target(StrEnum):
    TFLITE = "tflite"
    TFJS = "tfjs"


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC_INT8 = "dynamic-int8"
    INT8 = "int8"
    QAT = "qat"


class Need(StrEnum):
    """Inputs a variant cannot be built without; a variant whose needs are unmet is skipped, never faked."""

    CALIBRATION = "calibration"  # representative inputs for full-integer activation ranges
    TRAIN = "train"  # labelled data for quantization-aware fine-tuning
    KERAS = "keras"  # Keras layers (a plain SavedModel has none)


@dataclass(frozen=True)
class Tolerance:
    """Bounds against the float model on the validation samples. None means "recorded, not gated".

    max_abs_diff: largest absolute difference of any output value.
    min_agreement: share of samples whose top-1 class matches the float model's.
    max_accuracy_drop: accuracy loss in percentage points, when labels exist.
    """

    max_abs_diff: float | None
    min_agreement: float
    max_accuracy_drop: float | None


@dataclass(frozen=True)
class VariantSpec:
    target: Target
    precision: Precision
    needs: frozenset[Need]
    tolerance: Tolerance

    @property
    def id(self) -> str:
        return f"{self.target}-{self.precision}"


# Why these bounds: fp32 only reorders float arithmetic (1e-4 leaves room for fused kernels); fp16
# weights carry 11 significant bits, so outputs move by ~1e-3; int8 moves probabilities by up to a few
# hundredths and may flip genuinely ambiguous samples, so it is gated on agreement and accuracy instead.
_FLOAT32 = Tolerance(max_abs_diff=1e-4, min_agreement=1.0, max_accuracy_drop=0.0)
_FLOAT16 = Tolerance(max_abs_diff=1e-2, min_agreement=0.99, max_accuracy_drop=0.5)
_INT8 = Tolerance(max_abs_diff=None, min_agreement=0.95, max_accuracy_drop=1.0)
_QAT = Tolerance(max_abs_diff=None, min_agreement=0.95, max_accuracy_drop=0.5)

_NONE: frozenset[Need] = frozenset()

VARIANTS: dict[str, VariantSpec] = {
    spec.id: spec
    for spec in (
        VariantSpec(Target.TFLITE, Precision.FP32, _NONE, _FLOAT32),
        VariantSpec(Target.TFLITE, Precision.FP16, _NONE, _FLOAT16),
        VariantSpec(Target.TFLITE, Precision.DYNAMIC_INT8, _NONE, _INT8),
        VariantSpec(Target.TFLITE, Precision.INT8, frozenset({Need.CALIBRATION}), _INT8),
        VariantSpec(Target.TFLITE, Precision.QAT, frozenset({Need.TRAIN, Need.KERAS}), _QAT),
        VariantSpec(Target.TFJS, Precision.FP32, frozenset({Need.KERAS}), _FLOAT32),
        VariantSpec(Target.TFJS, Precision.FP16, frozenset({Need.KERAS}), _FLOAT16),
        VariantSpec(Target.TFJS, Precision.INT8, frozenset({Need.KERAS}), _INT8),
    )
}

# Workbox by default skips precaching any file over 2 MiB (its maximumFileSizeToCacheInBytes).
DEFAULT_SHARD_SIZE = 2 * 1024 * 1024
