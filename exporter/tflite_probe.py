"""What a phone pays to open a .tflite file: run as a script in a fresh process (exporter/costs.py starts it).

    python -P tflite_probe.py FILE...   # one JSON line per file: {"load_ms": ..., "peak_memory_bytes": ...}

It imports only the LiteRT interpreter and numpy, never TensorFlow, so its memory is a runtime's, not an
exporter's. For each file: memory is returned to the system, the peak resident set is reset
(/proc/self/clear_refs), then the interpreter is created from the file (mmapped, as on a phone), its
tensors allocated and the model run once on zeros; `peak_memory_bytes` is the peak resident set above the
resident set just before. `load_ms` is the median time of interpreter creation plus allocate_tensors over a
few loads. The smallest file is loaded once first, so the runtime's own code and first-use set-up count
for no variant. Where the peak cannot be reset (not Linux), each file gets a process of its own and the
peak is that process's (getrusage) less what its imports took.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

LOADS = 5  # timing repeats per file, fewer when a load is slow
LOAD_BUDGET_S = 0.3


def _status_bytes(field: str) -> int | None:
    """VmRSS or VmHWM from /proc/self/status, in bytes (None where there is no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Make VmHWM start again from the current resident set (Linux 4.0+); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource

    maximum = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maximum if sys.platform == "darwin" else maximum * 1024)  # macOS: bytes; elsewhere: KiB


def _current_bytes() -> int:
    current = _status_bytes("VmRSS")
    return current if current is not None else _peak_bytes()


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _open(path: str) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _run_once(interpreter: Any) -> None:
    import numpy as np

    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    interpreter.invoke()


def measure(path: str) -> dict[str, float | int]:
    _trim()
    _reset_peak()
    before = _current_bytes()
    interpreter = _open(path)
    _run_once(interpreter)
    peak = max(0, _peak_bytes() - before)
    del interpreter
    _trim()
    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        interpreter = _open(path)
        times.append((time.perf_counter() - start) * 1000.0)
        del interpreter
        if sum(times) > LOAD_BUDGET_S * 1000.0:
            break
    _trim()
    return {"load_ms": round(statistics.median(times), 3), "peak_memory_bytes": int(peak)}


def main(paths: list[str]) -> int:
    if not paths:
        return 2
    if not _reset_peak() and len(paths) > 1:  # the peak only grows here: one process per file
        for path in paths:
            done = subprocess.run([sys.executable, "-P", __file__, path], capture_output=True, text=True)
            sys.stderr.write(done.stderr)
            if done.returncode != 0:
                return done.returncode
            sys.stdout.write(done.stdout)
        return 0
    if _reset_peak():
        warm = min(paths, key=os.path.getsize)
        _run_once(_open(warm))  # the runtime's code and its first-use set-up are no variant's cost
    else:  # one file: the peak since start-up, less what the imports took
        import numpy  # noqa: F401
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    for path in paths:
        print(json.dumps(measure(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
