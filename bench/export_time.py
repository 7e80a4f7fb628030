"""Export time and peak memory: `edgeship export` against the official tools, the same seven variants.

The official path is what a user types: `tensorflowjs_converter` once per TFJS variant (plain,
--quantize_float16, --quantize_uint8) on the tf-keras twin (.h5), and one Python process per TFLite variant
(bench/official_tflite.py: fp32, fp16, dynamic int8, full int8 on the same 100 calibration samples). Its wall
time is the sum of its processes, its peak memory the largest of them. edgeship's time includes its
validation, report and manifest. Runs alternate sides (edgeship first in even runs, official first in odd
runs), so drifting load on this shared machine hits both. QAT has no official one-step path: it is timed
on its own.

`tensorflowjs_converter` runs from a venv of its own, bench/.venv-official (made by `make bench` from
bench/official.lock): tensorflowjs 4.22 pins tensorflow 2.19 through TF Decision Forests, so it cannot share
edgeship's venv (docs/STACK.md). The official TFLite path runs on edgeship's own TensorFlow.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from bench.proctree import Measurement, measure, measure_sequence
from bench.stats import ratios, summary

BIN = Path(sys.executable).parent
OFFICIAL_VENV = Path(__file__).resolve().parent / ".venv-official"
OFFICIAL_BIN = OFFICIAL_VENV / "bin"
# TF Decision Forests (imported by tensorflowjs) prints a welcome banner through IPython when stdout is not
# a terminal, and fails without IPython.
OFFICIAL_ENV = {"TFDF_DISABLE_WELCOME_MESSAGE": "1"}
VARIANTS = [
    "tflite-fp32",
    "tflite-fp16",
    "tflite-dynamic-int8",
    "tflite-int8",
    "tfjs-fp32",
    "tfjs-fp16",
    "tfjs-int8",
]
OFFICIAL_TFJS = {"tfjs-fp32": [], "tfjs-fp16": ["--quantize_float16"], "tfjs-int8": ["--quantize_uint8"]}
OFFICIAL_TFLITE = {
    "tflite-fp32": "fp32",
    "tflite-fp16": "fp16",
    "tflite-dynamic-int8": "dynamic-int8",
    "tflite-int8": "int8",
}


def edgeship_command(workload: Path, out: Path) -> list[str]:
    return [
        str(BIN / "edgeship"), "export", str(workload / "model.keras"), "--out", str(out),
        "--calibration", str(workload / "calibration.npz"), "--eval", str(workload / "eval.npz"),
        "--variants", ",".join(VARIANTS), "--allow-degraded",
    ]  # fmt: skip


def qat_command(workload: Path, out: Path, epochs: int) -> list[str]:
    return [
        str(BIN / "edgeship"), "export", str(workload / "model.keras"), "--out", str(out),
        "--train", str(workload / "train.npz"), "--eval", str(workload / "eval.npz"),
        "--variants", "tflite-qat", "--qat-epochs", str(epochs), "--allow-degraded",
    ]  # fmt: skip


def official_commands(workload: Path, out: Path) -> dict[str, list[str]]:
    """Variant -> the command a user runs for it; outputs under `out` (tfjs/<variant>/, <variant>.tflite)."""
    commands = {}
    for variant, flags in OFFICIAL_TFJS.items():
        # The quantization flags take an optional value: they go before the positional paths.
        commands[variant] = [
            str(OFFICIAL_BIN / "tensorflowjs_converter"), *flags, "--input_format", "keras",
            str(workload / "model.h5"), str(out / "tfjs" / variant),
        ]  # fmt: skip
    for variant, name in OFFICIAL_TFLITE.items():
        commands[variant] = [
            sys.executable, "-m", "bench.official_tflite", str(workload / "model.keras"), name,
            str(out / f"{variant}.tflite"),
        ]  # fmt: skip
        if name == "int8":
            commands[variant] += ["--calibration", str(workload / "calibration.npz")]
    return commands


def official_files(out: Path) -> dict[str, list[Path]]:
    """The files the official tools wrote, per variant."""
    files = {v: sorted((out / "tfjs" / v).rglob("*")) for v in OFFICIAL_TFJS}
    files |= {v: [out / f"{v}.tflite"] for v in OFFICIAL_TFLITE}
    return {v: [f for f in fs if f.is_file()] for v, fs in files.items()}


def check_official_venv() -> None:
    """The official converter's venv is there, or a message that says how to make it."""
    if not (OFFICIAL_BIN / "tensorflowjs_converter").is_file():
        raise RuntimeError(
            f"{OFFICIAL_VENV} has no tensorflowjs_converter; run `make bench-official` (or `make bench`) to "
            "install the official tools"
        )


def _check(side: str, result: Measurement) -> Measurement:
    if result.returncode != 0:
        raise RuntimeError(f"{side} failed with exit code {result.returncode}:\n{result.output}")
    return result


def compare(
    workload: Path, edgeship_out: Path, official_out: Path, runs: int, env: dict[str, str], log: Any
) -> dict[str, Any]:
    """`runs` alternating pairs; leaves the last outputs of each side in `edgeship_out` and `official_out`."""
    check_official_venv()
    official_env = {**env, **OFFICIAL_ENV}
    sides: dict[str, list[Measurement]] = {"edgeship": [], "official": []}
    for run in range(runs):
        order = ["edgeship", "official"] if run % 2 == 0 else ["official", "edgeship"]
        for side in order:
            shutil.rmtree(edgeship_out if side == "edgeship" else official_out, ignore_errors=True)
            if side == "edgeship":
                result = _check(side, measure(edgeship_command(workload, edgeship_out), env=env))
            else:
                official_out.mkdir(parents=True)
                commands = list(official_commands(workload, official_out).values())
                result = _check(side, measure_sequence(commands, env=official_env))
            sides[side].append(result)
            peak_mb = result.peak_rss_bytes / 1e6
            log(f"  export run {run + 1}/{runs} {side}: {result.wall_s:.1f} s, {peak_mb:.0f} MB")
    walls = {side: [m.wall_s for m in ms] for side, ms in sides.items()}
    peaks = {side: [m.peak_rss_bytes for m in ms] for side, ms in sides.items()}
    return {
        "variants": VARIANTS,
        "runs": runs,
        "wall_s": {side: summary(values) for side, values in walls.items()},
        "peak_rss_bytes": {side: summary(values) for side, values in peaks.items()},
        "wall_ratio": ratios(walls["edgeship"], walls["official"]),
        "peak_ratio": ratios(peaks["edgeship"], peaks["official"]),
        "raw": {
            side: [{"wall_s": m.wall_s, "peak_rss_bytes": m.peak_rss_bytes} for m in ms]
            for side, ms in sides.items()
        },
        "official_commands": [
            " ".join(Path(part).name if part.startswith("/") else part for part in command)
            for command in official_commands(Path("MODEL"), Path("OUT")).values()
        ],
    }


def qat(workload: Path, out: Path, epochs: int, env: dict[str, str]) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    result = _check("edgeship QAT", measure(qat_command(workload, out, epochs), env=env))
    return {"wall_s": result.wall_s, "peak_rss_bytes": result.peak_rss_bytes, "epochs": epochs}
