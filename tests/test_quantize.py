"""The symmetric int8 mapping of the design, and its exact TFJS uint8 storage."""

import numpy as np
import pytest

from exporter.quantize import quantize_symmetric


def test_design_example_range():
    # The design's example: weights spanning -1.5..0.8, so m = 1.5.
    q = quantize_symmetric(np.array([-1.5, 0.0, 0.8], dtype=np.float32))
    assert q.scale == pytest.approx(1.5 / 127)
    assert q.values.tolist() == [-127, 0, round(0.8 / 1.5 * 127)]
    assert q.values[2] == 68


def test_zero_stays_exactly_zero_after_decoding():
    w = np.array([0.0, -0.3, 0.7, 0.0, 1e-9], dtype=np.float32)
    decoded = quantize_symmetric(w).dequantize()
    assert decoded[0] == 0.0 and decoded[3] == 0.0
    assert np.signbit(decoded[0]) == np.False_


@pytest.mark.parametrize("seed", range(5))
def test_mapping_is_symmetric_and_bounded(seed):
    w = np.random.default_rng(seed).normal(size=(3, 3, 8, 16)).astype(np.float32)
    q = quantize_symmetric(w)
    assert q.values.min() >= -127 and q.values.max() <= 127
    assert 127 in np.abs(q.values)  # max|w| maps onto the end of the range
    np.testing.assert_array_equal(quantize_symmetric(-w).values, -q.values)
    assert np.max(np.abs(q.dequantize() - w)) <= q.scale / 2 + 1e-7  # rounding error at most half a step


def test_uint8_storage_decodes_like_tfjs():
    w = np.array([-2.0, -1.0, 0.0, 0.5, 2.0], dtype=np.float32)
    q = quantize_symmetric(w)
    assert q.as_uint8.tolist() == [0, 63, 127, 159, 254]  # q + 127; -63.5 rounds half to even: -64
    tfjs = (q.as_uint8.astype(np.float64) * q.scale + q.uint8_min).astype(np.float32)
    np.testing.assert_array_equal(tfjs, q.dequantize())


def test_all_zero_tensor():
    q = quantize_symmetric(np.zeros((4, 4), dtype=np.float32))
    assert not q.values.any() and not q.dequantize().any()


def test_non_finite_weights_are_refused():
    with pytest.raises(ValueError, match="NaN or Inf"):
        quantize_symmetric(np.array([1.0, np.nan]))
