"""`python -m bench.run`: every benchmark section in one run; writes results.json and RESULTS.md.

    python -m bench.run                  full: demo + MobileNetV2 -> bench/RESULTS.md, bench/results.json
    python -m bench.run --smoke          demo only, 1 run per side, tiny counts -> a temporary folder
    python -m bench.run --out DIR        write the two files into DIR instead

A section that fails is recorded with its error and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import browser, export_time, machine, report, server_load, sizes, zoo
from bench.serving import ROOT

BENCH_DIR = ROOT / "bench"


@dataclass(frozen=True)
class Settings:
    workloads: tuple[str, ...]
    export_runs: dict[str, int]
    qat_epochs: int
    tflite_runs: int
    browser_runs: int
    browser_budget_ms: int
    browser_rounds: int
    wrk_seconds: int
    demo_epochs: int | None = None  # None: as many as `edgeship demo` trains
    finetune_samples: int = 64  # demo-sized models; MobileNetV2 trains on 8


FULL = Settings(
    workloads=("demo", "mobilenetv2"),
    export_runs={"demo": 5, "mobilenetv2": 3},
    qat_epochs=2,
    tflite_runs=200,
    browser_runs=30,
    browser_budget_ms=6000,
    browser_rounds=3,
    wrk_seconds=10,
)
SMOKE = Settings(
    workloads=("demo",),
    export_runs={"demo": 1},
    qat_epochs=1,
    tflite_runs=20,
    browser_runs=5,
    browser_budget_ms=500,
    browser_rounds=1,
    wrk_seconds=1,
    demo_epochs=2,
    finetune_samples=16,
)


class Log:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f} s] {message}", file=sys.stderr, flush=True)


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}


def _section(results: dict[str, Any], name: str, log: Log, fn: Callable[[], Any]) -> None:
    log(f"{name}")
    try:
        results[name] = fn()
    except Exception as error:  # recorded in the results; the other sections still run
        log(f"{name} FAILED: {error}")
        results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def _prepare(name: str, folder: Path, epochs: int | None, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.workloads", name, str(folder)]
    if epochs is not None and name == "demo":
        command += ["--epochs", str(epochs)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"building the {name} workload failed:\n{result.stderr[-4000:]}")
    return json.loads((folder / "meta.json").read_text())


def _tflite_latency(exports: list[Path], runs: int, env: dict[str, str]) -> dict[str, Any]:
    files: dict[str, Path] = {}
    for folder in exports:
        manifest = json.loads((folder / "manifest.json").read_text())
        for variant, spec in manifest["variants"].items():
            if spec["target"] == "tflite":
                files[variant] = folder / spec["entry"]
    command = [sys.executable, "-m", "bench.tflite_latency", "--runs", str(runs), *map(str, files.values())]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"tflite latency failed:\n{result.stderr[-4000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    return {"runs": runs, "rows": [{"variant": v, "threads": timings[str(p)]} for v, p in files.items()]}


def _fine_tuning(results: dict[str, Any]) -> dict[str, Any]:
    """In-browser training speed per backend, gathered from the browser section."""
    models = (results.get("browser") or {}).get("models") or {}
    if not models:
        return {"status": "not measured", "reason": "the browser section did not run"}
    measured = {name: model["fine_tuning"] for name, model in models.items() if model.get("fine_tuning")}
    if not measured:
        methods = next(iter(models.values())).get("engine_methods") or []
        return {
            "status": "not measured",
            "reason": "the app's engine has no train method (engine methods: " + ", ".join(methods) + ")",
        }
    return {"status": "measured", "models": measured}


def _workload(name: str, settings: Settings, work: Path, env: dict[str, str], log: Log) -> dict[str, Any]:
    """Build the workload, compare export time, time QAT, then sizes and TFLite latency of the exports."""
    base, export = work / name, work / "serve" / name
    entry: dict[str, Any] = {}
    _section(entry, "meta", log, lambda: _prepare(name, base / "source", settings.demo_epochs, env))
    if "error" in entry["meta"]:
        return entry
    runs = settings.export_runs[name]
    _section(
        entry,
        "export",
        log,
        lambda: export_time.compare(base / "source", export, base / "official", runs, env, log),
    )
    _section(
        entry, "qat", log, lambda: export_time.qat(base / "source", base / "qat", settings.qat_epochs, env)
    )
    if "error" in entry["export"]:
        return entry
    qat_export = base / "qat" if "error" not in entry["qat"] else None
    _section(entry, "sizes", log, lambda: sizes.sizes(export, base / "official", qat_export))
    folders = [export, *([qat_export] if qat_export else [])]
    _section(entry, "tflite_latency", log, lambda: _tflite_latency(folders, settings.tflite_runs, env))
    return entry


def run(settings: Settings, work: Path, smoke: bool, log: Log) -> dict[str, Any]:
    env = _env()
    serve_dir = work / "serve"  # edgeship's exports, one folder per workload, served together
    results: dict[str, Any] = {
        "mode": "smoke" if smoke else "full",
        "settings": asdict(settings),
        "machine": machine.describe(),
        "workloads": {},
    }
    for name in settings.workloads:
        results["workloads"][name] = _workload(name, settings, work, env, log)
    ids = [name for name, entry in results["workloads"].items() if "tflite_latency" in entry]
    missing = browser.missing_prerequisites()
    if missing:
        results["browser"] = {"skipped": missing}
    elif ids:
        browser_settings = {
            "backends": ["wasm", "webgl", "cpu"],
            "runs": settings.browser_runs,
            "warmup": 2,
            "budgetMs": settings.browser_budget_ms,
            "rounds": settings.browser_rounds,
            "finetune": {
                "backends": ["webgl", "cpu"],  # the tfjs wasm backend lacks some gradient ops
                "small": {"count": settings.finetune_samples, "epochs": 2, "batchSize": 16},
                "large": {"count": 8, "epochs": 1, "batchSize": 4},  # MobileNetV2: ~2 s a sample on cpu
            },
        }
        _section(results, "browser", log, lambda: browser.run(serve_dir, ids, browser_settings, log))
    results["fine_tuning"] = _fine_tuning(results)
    if shutil.which("wrk") is None:
        results["server"] = {"skipped": "wrk is missing (make bench installs Debian's wrk)"}
    elif ids:
        _section(results, "server", log, lambda: server_load.run(serve_dir, ids, settings.wrk_seconds, log))
    return results


def failures(results: dict[str, Any]) -> list[str]:
    found = [
        f"workloads.{w}.{s}" for w, e in results["workloads"].items() for s, v in e.items() if "error" in v
    ]
    return found + [s for s in ("browser", "server") if "error" in results.get(s, {})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="demo only, tiny counts, into a temporary folder"
    )
    parser.add_argument("--out", type=Path, help="folder for results.json and RESULTS.md")
    parser.add_argument("--keep-work", action="store_true", help="keep the working folder (exports etc.)")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    out = args.out or (Path(tempfile.mkdtemp(prefix="edgeship-bench-smoke-")) if args.smoke else BENCH_DIR)
    out.mkdir(parents=True, exist_ok=True)
    log = Log()
    work = Path(tempfile.mkdtemp(prefix="edgeship-bench-work-"))
    log(f"{'smoke' if args.smoke else 'full'} benchmark; working folder {work}")
    try:
        results = run(settings, work, args.smoke, log)
    finally:
        if args.keep_work:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["duration_s"] = time.monotonic() - log.started
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "RESULTS.md").write_text(zoo.keep_section(out / "RESULTS.md", report.markdown(results)))
    log(f"wrote {out / 'results.json'} and {out / 'RESULTS.md'}")
    broken = failures(results)
    if broken:
        log(f"failed sections: {', '.join(broken)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
