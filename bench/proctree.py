"""Run a command and measure its wall time and the peak memory of its whole process tree.

Peak memory is the largest sum of resident set sizes (RSS) over the process and all its descendants, sampled
every SAMPLE_S seconds with psutil (pinned in requirements.lock). Pages shared between processes count once
per process, so for a tree of forked workers this is an upper bound; for one process it is its RSS.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_S = 0.05


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    peak_rss_bytes: int
    returncode: int
    output: str  # the last lines of stdout and stderr together, for error messages


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in processes:
        with contextlib.suppress(psutil.Error):  # it ended between listing and reading
            total += process.memory_info().rss
    return total


def measure(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Measurement:
    """Run `command` to completion; its output goes to a temporary log, not to our terminal."""
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"edgeship-bench-{os.getpid()}-{time.time_ns()}.log"
    with open(log_path, "w+b") as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(root))
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - started
        log.seek(0)
        tail = log.read().decode("utf-8", "replace").splitlines()[-30:]
    log_path.unlink(missing_ok=True)
    return Measurement(wall, peak, child.returncode, "\n".join(tail))


def measure_sequence(commands: list[list[str]], env: dict[str, str] | None = None) -> Measurement:
    """Commands one after another, as a user would type them: wall times add up, the peak is the largest."""
    wall, peak, outputs = 0.0, 0, []
    for command in commands:
        result = measure(command, env=env)
        wall += result.wall_s
        peak = max(peak, result.peak_rss_bytes)
        if result.returncode != 0:
            return Measurement(wall, peak, result.returncode, f"{' '.join(command)}\n{result.output}")
        outputs.append(result.output)
    return Measurement(wall, peak, 0, "\n".join(outputs)[-4000:])
