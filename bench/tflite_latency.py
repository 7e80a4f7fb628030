"""TFLite latency in Python: every .tflite variant, one sample at a time, 1 and 2 threads.

    python -m bench.tflite_latency --runs N --warmup W FILE.tflite [...]   (prints JSON on stdout)

Interpreter: ai-edge-litert (XNNPACK on). Inputs are fixed random values in the tensor's type (int8 for
full-integer models). The reported figure is the median of N invocations after W warm-up invocations;
min and max are reported beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

THREADS = (1, 2)


def time_file(path: Path, threads: int, runs: int, warmup: int) -> dict[str, float]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        sample = rng.integers(info.min, info.max + 1, size=detail["shape"]).astype(detail["dtype"])
    else:
        sample = rng.random(detail["shape"], dtype=np.float32).astype(detail["dtype"])
    times = []
    for index in range(warmup + runs):
        started = time.perf_counter()
        interpreter.set_tensor(detail["index"], sample)
        interpreter.invoke()
        interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        if index >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="median single-sample latency of .tflite files")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    results = {
        str(path): {str(t): time_file(path, t, args.runs, args.warmup) for t in THREADS}
        for path in args.files
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
