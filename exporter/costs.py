"""What each variant costs to open on the device: load time and peak memory, beside bytes and latency.

- TFLite: measured in one fresh process that imports only the LiteRT interpreter (exporter/tflite_probe.py):
  `load_ms` is interpreter creation plus allocate_tensors, `peak_memory_bytes` the growth of its resident
  set while it loads the file, allocates and runs it once. A separate process, because this one holds
  TensorFlow and the converters, whose memory would drown a model's.
- TFJS: `peak_memory_bytes` is computed, not measured: tfjs decodes every weight to float32 when it loads a
  layers model, so fp16 and int8 shards save download, not memory (activations come on top). Load time is
  the browser's to measure (`load_ms` is null).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBE = Path(__file__).with_name("tflite_probe.py")
PROBE_TIMEOUT_S = 60.0  # per file: a load is milliseconds to seconds, even for large models
MEASURED = "measured"
COMPUTED = "computed"


@dataclass(frozen=True)
class Cost:
    load_ms: float | None
    peak_memory_bytes: int | None
    peak_memory_kind: str  # "measured" (RSS growth) or "computed" (float32 weights)


def tflite_costs(files: list[Path]) -> tuple[list[Cost], str | None]:
    """Costs of each file, in order; or no costs and why they could not be measured."""
    if not files:
        return [], None
    try:
        done = subprocess.run(
            [sys.executable, "-P", str(PROBE), *(str(f) for f in files)],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S * len(files), check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return [], f"the probe process did not finish ({type(error).__name__})"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) != len(files):
        last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
        return [], f"the probe process failed (exit {done.returncode}: {last.strip()[:160]})"
    costs = []
    for line in lines:
        figures = json.loads(line)
        costs.append(Cost(float(figures["load_ms"]), int(figures["peak_memory_bytes"]), MEASURED))
    return costs, None


def tfjs_cost(model_json: Path) -> Cost:
    """The bytes tfjs holds for the weights of this layers model once loaded: 4 per value, any encoding."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    values = sum(int(np.prod(weight["shape"])) for group in manifest for weight in group["weights"])
    return Cost(load_ms=None, peak_memory_bytes=4 * values, peak_memory_kind=COMPUTED)
