"""How large an upload for a given base model may be, checked before any part is parsed.

The limits follow from the base model, so a small model cannot be sent a huge upload: the weights may be up
to WEIGHTS_FACTOR times the base's float32 weights (room for a grown head), the samples MAX_SAMPLES inputs
of the base's input shape, the JSON part 4x the base model.json. The route refuses a body over `total`
before reading it (`too_large`); `check_sizes` holds the same limits on the parts it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from webapp.finetune_checks.base import Base
from webapp.finetune_checks.rejection import UploadRejected

MIN_SAMPLES = 1
MAX_SAMPLES = 2000
MAX_CLASSES = 10_000
WEIGHTS_FACTOR = 8  # the uploaded weights may be up to 8x the base model's float32 weights (a grown head)
MODEL_JSON_MIN_LIMIT = 1024 * 1024  # the `model` part: at least 1 MiB, or 4x the base model.json
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers
UNKNOWN_DIM_SAMPLE_BYTES = 16 * 1024 * 1024  # samples limit for inputs with a free (null) dimension


@dataclass(frozen=True)
class Limits:
    model_json: int
    weights: int
    samples: int

    @property
    def total(self) -> int:
        return self.model_json + self.weights + self.samples + MULTIPART_OVERHEAD


def limits(base: Base) -> Limits:
    weights = WEIGHTS_FACTOR * 4 * sum(spec.count for spec in base.weights)
    dims = base.input_shape[1:]
    per_sample = 4 * math.prod(d for d in dims if d is not None)
    samples = MAX_SAMPLES * per_sample if None not in dims else UNKNOWN_DIM_SAMPLE_BYTES
    return Limits(max(MODEL_JSON_MIN_LIMIT, 4 * base.model_json_bytes), max(weights, 1024), samples)


def too_large(size: int, base: Base) -> str:
    total = limits(base).total
    return f"upload too large: {size:,} bytes; the limit for fine-tuning this model is {total:,} bytes"


def check_sizes(base: Base, model: bytes, weights: bytes, samples: bytes) -> None:
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
