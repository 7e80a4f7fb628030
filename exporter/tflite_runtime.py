"""Run a `.tflite` flatbuffer with the LiteRT interpreter: float in, float out, int8 handled at the edges."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


@dataclass(frozen=True)
class Quantization:
    """real = scale * (q - zero_point)"""

    scale: float
    zero_point: int

    def as_json(self) -> dict[str, float | int]:
        return {"scale": self.scale, "zero_point": self.zero_point}


def _quantization(detail: dict) -> Quantization | None:
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32 or scale == 0.0:
        return None
    return Quantization(float(scale), int(zero_point))


_FLOATS = (np.float32, np.float16, np.float64)
CHUNK_BYTES = 4 * 1024 * 1024  # input bytes per invocation: 256 digits images, 6 MobileNetV2 images


def chunk_size(x: np.ndarray) -> int:
    """How many samples of `x` to run at once, so that activations stay in the tens of megabytes."""
    return rows_per_chunk(x.shape[1:], x.itemsize)


def rows_per_chunk(sample_shape: tuple[int, ...], itemsize: int) -> int:
    """Samples of this shape and item size that fit in CHUNK_BYTES (1 to 256)."""
    per_sample = max(1, int(np.prod(sample_shape)) * itemsize)
    return int(max(1, min(256, CHUNK_BYTES // per_sample)))


def usable_cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class TfliteRunner:
    def __init__(self, flatbuffer: bytes, num_threads: int = 1):
        self._flatbuffer = flatbuffer
        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_dtype = np.dtype(self._input["dtype"]).name
        self.output_dtype = np.dtype(self._output["dtype"]).name
        self.input_quantization = _quantization(self._input)
        self.output_quantization = _quantization(self._output)
        self._batchable = int(self._input["shape_signature"][0]) == -1
        self._batch = int(self._input["shape"][0])

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """The raw input tensor for float inputs `x` (int8 models take quantized values)."""
        q = self.input_quantization
        if q is None:
            return x.astype(self._input["dtype"], copy=False)
        info = np.iinfo(self._input["dtype"])
        return np.clip(np.round(x / q.scale) + q.zero_point, info.min, info.max).astype(self._input["dtype"])

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        q = self.output_quantization
        if q is None:
            return raw.astype(np.float32)
        return (q.scale * (raw.astype(np.float32) - q.zero_point)).astype(np.float32)

    def run_raw(self, raw_inputs: np.ndarray) -> np.ndarray:
        """Raw input tensor in, raw output tensor out, for a whole batch, run in chunks of bounded size: the
        interpreter's arena grows with the batch, to gigabytes for 100 MobileNetV2 images at once."""
        step = chunk_size(raw_inputs) if self._batchable else self._batch
        return np.concatenate(
            [self._invoke(raw_inputs[i : i + step]) for i in range(0, len(raw_inputs), step)]
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float inputs in, float outputs out. Quantized chunk by chunk: quantizing all of `x` at once makes
        several float temporaries of its full size (hundreds of MB for 100 MobileNetV2 images)."""
        step = chunk_size(x) if self._batchable else self._batch
        chunks = (x[i : i + step] for i in range(0, len(x), step))
        return np.concatenate([self.dequantize_output(self.run_raw(self.quantize_input(c))) for c in chunks])

    def latency_ms(self, sample: np.ndarray, repeats: int = 50, budget_s: float = 0.5) -> float:
        """Median wall time of one invocation on one sample on one thread (as on a phone's single core,
        whatever threads this runner validates with), after a warm-up: `repeats` runs, fewer (at least
        10) for a model so slow that they would take over `budget_s` (`make bench` measures thoroughly)."""
        single = TfliteRunner(self._flatbuffer, num_threads=1)
        raw = single.quantize_input(sample[:1])
        start = time.perf_counter()
        single._invoke(raw)
        first = time.perf_counter() - start
        times = []
        for _ in range(max(10, min(repeats, int(budget_s / max(first, 1e-6))))):
            start = time.perf_counter()
            single._interpreter.invoke()
            times.append((time.perf_counter() - start) * 1000.0)
        return statistics.median(times)

    def _invoke(self, raw: np.ndarray) -> np.ndarray:
        index = self._input["index"]
        if tuple(self._interpreter.get_input_details()[0]["shape"]) != raw.shape:
            self._interpreter.resize_tensor_input(index, list(raw.shape))
            self._interpreter.allocate_tensors()
        self._interpreter.set_tensor(index, raw)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output["index"]))


def float_ops(flatbuffer: bytes) -> list[str]:
    """Ops of `flatbuffer` that compute in floating point, QUANTIZE and DEQUANTIZE aside: none in a fully
    integer model.

    The converter does not refuse an op it cannot quantize, even with only int8 builtins allowed: it
    wraps the op in DEQUANTIZE/QUANTIZE and runs it in float32 (CONV_3D on TF 2.19, for example). Read
    without the default XNNPACK delegate, which would hide the ops it takes behind one DELEGATE node.
    """
    interpreter = Interpreter(
        model_content=flatbuffer,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    floating = {t["index"] for t in interpreter.get_tensor_details() if t["dtype"] in _FLOATS}
    return sorted(
        {
            op["op_name"]
            for op in interpreter._get_ops_details()
            if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
            and floating.intersection([*op["inputs"], *op["outputs"]])
        }
    )
