"""Run the real CLI and read the peak resident memory of that one process.

The peak is the process' own VmHWM, written from /proc/self/status when it exits. Not ru_maxrss: Linux
carries the parent's peak over fork and exec, and a pytest(-xdist) worker that ran TensorFlow tests before
can hold more than any limit a test sets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI_WITH_PEAK = """
import atexit, os, runpy, sys
def report():
    with open("/proc/self/status") as status, open(os.environ["PEAK_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(report)
sys.argv[0] = "edgeship"
runpy.run_module("edgeship", run_name="__main__", alter_sys=True)
"""


def run_with_peak(
    args: list[str], peak_file: Path, env: dict[str, str], cwd: Path | None = None, timeout: int = 300
) -> tuple[subprocess.CompletedProcess[str], int]:
    """(the finished `edgeship ARGS` process, its peak resident set in bytes)."""
    result = subprocess.run(
        [sys.executable, "-c", CLI_WITH_PEAK, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "PEAK_FILE": str(peak_file)},
        timeout=timeout,
    )
    peak = int(peak_file.read_text()) * 1024  # VmHWM is in kB
    peak_file.unlink()
    return result, peak
