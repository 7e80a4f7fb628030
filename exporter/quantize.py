"""The symmetric int8 weight mapping of edgeship's design, and its TFJS storage form.

Per tensor, m = max|w|; the range -m..m maps linearly onto -127..127, so 0.0 maps to exactly 0 and the
mapping is its own mirror image (no zero point to store). TFJS weight manifests have no int8 type, only
`uint8` with `value = q_u8 * scale + min`; a symmetric q is stored exactly as `q + 127` with
`scale = m / 127` and `min = -127 * scale`. (Not `min = -m`: `127 * (m / 127)` need not equal m in
floating point, and only `min = -(127 * scale)` makes q = 0 decode to exactly 0.0.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QMAX = 127


@dataclass(frozen=True)
class SymmetricInt8:
    values: np.ndarray  # int8, in -127..127
    scale: float  # real value of one step: m / 127

    @property
    def as_uint8(self) -> np.ndarray:
        return (self.values.astype(np.int16) + QMAX).astype(np.uint8)

    @property
    def uint8_min(self) -> float:
        return -(QMAX * self.scale)

    def dequantize(self) -> np.ndarray:
        """Decode exactly as TFJS does: `u8 * scale + min` in float64, stored as float32."""
        return (self.as_uint8.astype(np.float64) * self.scale + self.uint8_min).astype(np.float32)


def quantize_symmetric(weights: np.ndarray) -> SymmetricInt8:
    """Map a float tensor to symmetric int8: q = round(w / m * 127), m = max|w|."""
    w = np.asarray(weights, dtype=np.float64)
    m = float(np.max(np.abs(w))) if w.size else 0.0
    if not np.isfinite(m):
        raise ValueError("weights contain NaN or Inf")
    if m == 0.0:
        # An all-zero tensor: any scale decodes q = 0 to 0.0; 1.0 keeps the manifest free of a zero scale.
        return SymmetricInt8(values=np.zeros(w.shape, dtype=np.int8), scale=1.0)
    q = np.clip(np.rint(w / m * QMAX), -QMAX, QMAX).astype(np.int8)
    return SymmetricInt8(values=q, scale=m / QMAX)
