"""TFJS weight shards: written by edgeship, read back bit-exact by @tensorflow/tfjs itself (in node)."""

import json

import numpy as np
import pytest
from tfjs_node import read_tfjs_weights, write_manifest

from exporter.config import Precision
from exporter.tfjs_weights import write_weights


@pytest.fixture
def weights():
    rng = np.random.default_rng(0)
    return [
        ("conv/kernel", rng.normal(size=(3, 3, 1, 16)).astype(np.float32)),
        ("conv/bias", rng.normal(size=(16,)).astype(np.float32)),
        ("dense/kernel", rng.normal(size=(64, 10)).astype(np.float32)),
        ("dense/kernel_with_zeros", np.array([[0.0, 1.25], [-0.5, 0.0]], dtype=np.float32)),
        ("step", np.array(7, dtype=np.int64)),
    ]


@pytest.mark.parametrize("precision", [Precision.FP32, Precision.FP16, Precision.INT8])
@pytest.mark.parametrize("shard_size", [1024, 4096, 2 * 1024 * 1024])
def test_tfjs_decodes_exactly_what_we_report(tmp_path, weights, precision, shard_size):
    written = write_weights(weights, tmp_path, precision, shard_size)
    read = read_tfjs_weights(write_manifest(tmp_path, written.manifest))
    assert list(read) == [name for name, _ in weights]
    for name, values in read.items():
        expected = written.decoded[name]
        assert values.dtype == expected.dtype and values.shape == expected.shape, name
        assert values.tobytes() == expected.tobytes(), name  # bit-exact, the sign of zero included


def test_shards_respect_the_size_and_carry_a_content_hash(tmp_path, weights):
    written = write_weights(weights, tmp_path, Precision.FP32, 1024)
    sizes = [(tmp_path / s).stat().st_size for s in written.shards]
    assert max(sizes) <= 1024 and len(written.shards) == len(sizes) > 1
    for shard in written.shards:
        name, digest, ext = shard.name.rsplit(".", 2)
        assert ext == "bin" and len(digest) == 16 and name.startswith("group1-shard")
    (tmp_path / "again").mkdir()
    again = write_weights(weights, tmp_path / "again", Precision.FP32, 1024)
    assert [s.name for s in again.shards] == [s.name for s in written.shards]  # same bytes, same names


def test_int8_stores_kernels_as_symmetric_uint8_and_keeps_biases_float(tmp_path, weights):
    written = write_weights(weights, tmp_path, Precision.INT8, 1 << 20)
    entries = {w["name"]: w for w in written.manifest[0]["weights"]}
    kernel = entries["conv/kernel"]["quantization"]
    assert kernel["dtype"] == "uint8" and kernel["min"] == -127 * kernel["scale"]
    assert "quantization" not in entries["conv/bias"]
    assert written.decoded["dense/kernel_with_zeros"][0, 0] == 0.0  # 0.0 stays exactly 0
    json.dumps(written.manifest)  # the manifest is plain JSON


def test_int8_bytes_are_a_quarter_of_float32(tmp_path):
    kernel = [("k", np.random.default_rng(1).normal(size=(256, 256)).astype(np.float32))]
    fp32 = write_weights(kernel, tmp_path, Precision.FP32, 1 << 20)
    (tmp_path / "q").mkdir()
    int8 = write_weights(kernel, tmp_path / "q", Precision.INT8, 1 << 20)
    size = lambda w, d: sum((d / s).stat().st_size for s in w.shards)  # noqa: E731
    assert size(int8, tmp_path / "q") * 4 == size(fp32, tmp_path)
