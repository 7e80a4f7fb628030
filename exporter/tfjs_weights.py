"""Write TFJS weight shards and their manifest group, and say exactly what the browser will decode.

Format (the `weightsManifest` of a TFJS layers model.json):

    [{"paths": ["group1-shard1of2.<hash>.bin", ...],
      "weights": [{"name": "conv2d/kernel", "shape": [3, 3, 1, 16], "dtype": "float32",
                   "quantization": {"dtype": "uint8", "scale": s, "min": m, "original_dtype": "float32"}},
                  ...]}]

The weights' bytes are concatenated in manifest order and cut into shards of at most `shard_size` bytes;
a weight may span shards. A quantized weight is decoded as `q * scale + min` (uint8) or as IEEE half
(float16). Shard names carry a hash of their content so a server can mark them immutable.

Precisions: `fp32` stores float32; `fp16` stores every float tensor as float16; `int8` stores every float
tensor of rank >= 2 (kernels) with the symmetric mapping of `exporter.quantize` and keeps rank-0/1 tensors
(biases, batch-norm statistics) in float32, as TFLite keeps biases in higher precision: they are a
fraction of the bytes and a large share of the error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.config import Precision
from exporter.quantize import quantize_symmetric


@dataclass(frozen=True)
class EncodedWeight:
    entry: dict[str, Any]  # the manifest entry
    data: bytes  # the stored bytes
    decoded: np.ndarray  # exactly what tfjs decodes from `data`


def encode_weight(name: str, array: np.ndarray, precision: Precision) -> EncodedWeight:
    array = np.asarray(array)
    entry: dict[str, Any] = {"name": name, "shape": list(array.shape)}
    if not np.issubdtype(array.dtype, np.floating):
        stored = array.astype(np.int32)
        entry["dtype"] = "int32"
        return EncodedWeight(entry, stored.tobytes(), stored)
    array = array.astype(np.float32)
    entry["dtype"] = "float32"
    if precision is Precision.FP16:
        half = array.astype("<f2")
        entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        return EncodedWeight(entry, half.tobytes(), half.astype(np.float32))
    if precision is Precision.INT8 and array.ndim >= 2:
        q = quantize_symmetric(array)
        entry["quantization"] = {
            "dtype": "uint8",
            "scale": q.scale,
            "min": q.uint8_min,
            "original_dtype": "float32",
        }
        return EncodedWeight(entry, q.as_uint8.tobytes(), q.dequantize())
    stored32 = array.astype("<f4")
    return EncodedWeight(entry, stored32.tobytes(), stored32.astype(np.float32))


@dataclass(frozen=True)
class WrittenWeights:
    manifest: list[dict[str, Any]]  # the model.json `weightsManifest`
    shards: list[Path]  # written files, relative to the folder
    decoded: dict[str, np.ndarray]  # weight name -> float32/int32 values the browser will use


def write_weights(
    weights: Sequence[tuple[str, np.ndarray]], folder: Path, precision: Precision, shard_size: int
) -> WrittenWeights:
    """Encode `weights`, write content-hashed shards into `folder`, return the manifest group."""
    if shard_size < 1024:
        raise ValueError(f"shard size {shard_size} is too small; use at least 1024 bytes")
    encoded = [encode_weight(name, array, precision) for name, array in weights]
    blob = b"".join(e.data for e in encoded)
    chunks = [blob[i : i + shard_size] for i in range(0, len(blob), shard_size)] or [b""]
    paths = []
    for index, chunk in enumerate(chunks, start=1):
        digest = hashlib.sha256(chunk).hexdigest()[:16]
        path = Path(f"group1-shard{index}of{len(chunks)}.{digest}.bin")
        (folder / path).write_bytes(chunk)
        paths.append(path)
    manifest = [{"paths": [p.as_posix() for p in paths], "weights": [e.entry for e in encoded]}]
    decoded = {e.entry["name"]: e.decoded for e in encoded}
    return WrittenWeights(manifest=manifest, shards=paths, decoded=decoded)
