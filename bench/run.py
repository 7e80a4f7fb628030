"""`python -m bench.run`: every benchmark section in one run; writes results.json and RESULTS.md.

    python -m bench.run                  full: demo + MobileNetV2 -> bench/RESULTS.md, bench/results.json
    python -m bench.run --smoke          demo only, 1 run per side, tiny counts -> a temporary folder
    python -m bench.run --quick          the browser figures (goals) only: edgeship's export once (no official
                                         tools, QAT, sizes or load test), 1 round -> a temporary folder
    python -m bench.run --only NAME      only that workload (demo, mobilenetv2; repeatable)
    python -m bench.run --exports DIR    reuse exports (DIR/<id>/, e.g. a --keep-work folder's serve/): the
                                         native floor and the browser section only
    python -m bench.run --webgpu         also the WebGPU rows, on SwiftShader (software: slow, opt-in)
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import browser, export_time, machine, report, server_load, sizes, zoo
from bench.serving import ROOT

WORKLOADS = ("demo", "mobilenetv2")  # bench/workloads.py's (not imported: it sets TensorFlow's environment)

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
    finetune_samples: int = 64  # demo-sized models, 5 epochs
    finetune_large_samples: int = 32  # MobileNetV2: 4 classes x 8 samples (15 % held out), 5 epochs
    finetune_epochs: int = 5
    browser_warmup_ms: int = 1000
    official: bool = True  # the official tools' export, QAT, sizes and the load test (not in --quick)
    webgpu: bool = False  # Chromium with a WebGPU adapter (SwiftShader): webgpu rows in the matrix


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
    finetune_large_samples=8,
    finetune_epochs=2,
    browser_warmup_ms=200,
)
QUICK = Settings(
    workloads=("demo", "mobilenetv2"),
    export_runs={"demo": 1, "mobilenetv2": 1},
    qat_epochs=1,
    tflite_runs=50,
    browser_runs=10,
    browser_budget_ms=2000,
    browser_rounds=1,
    wrk_seconds=1,
    official=False,
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
    """Every tflite variant's deployable file (`rows`) and, where the export has one, its browser-facing file
    (`browser_rows`: batch 1, float I/O, the very file the app and the plain pages run: the native floor)."""
    files: dict[str, Path] = {}
    browser_files: dict[str, Path] = {}
    for folder in exports:
        manifest = json.loads((folder / "manifest.json").read_text())
        for variant, spec in manifest["variants"].items():
            if spec["target"] == "tflite":
                files[variant] = folder / spec["entry"]
                if (spec.get("browser") or {}).get("entry"):
                    browser_files[variant] = folder / spec["browser"]["entry"]
    paths = [*files.values(), *browser_files.values()]
    command = [sys.executable, "-m", "bench.tflite_latency", "--runs", str(runs), *map(str, paths)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"tflite latency failed:\n{result.stderr[-4000:]}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "runs": runs,
        "rows": [{"variant": v, "threads": timings[str(p)]} for v, p in files.items()],
        "browser_rows": [{"variant": v, "threads": timings[str(p)]} for v, p in browser_files.items()],
    }


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
    if not settings.official:  # --quick: edgeship's export once, then the native floor
        _section(entry, "export_only", log, lambda: _export_once(base / "source", export, env))
        if "error" not in entry["export_only"]:
            floor = lambda: _tflite_latency([export], settings.tflite_runs, env)  # noqa: E731
            _section(entry, "tflite_latency", log, floor)
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


def _export_once(source: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    command = export_time.edgeship_command(source, out)
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"edgeship export failed:\n{result.stderr[-4000:]}")
    return {"wall_s": time.monotonic() - started}


def _reused(name: str, folder: Path, settings: Settings, env: dict[str, str], log: Log) -> dict[str, Any]:
    """--exports: an export made before (its folder as `edgeship export` wrote it): the native floor only."""
    entry: dict[str, Any] = {"meta": {"name": name, "title": f"reused export {folder}", "reused": True}}
    _section(entry, "tflite_latency", log, lambda: _tflite_latency([folder], settings.tflite_runs, env))
    return entry


def run(settings: Settings, work: Path, mode: str, log: Log, exports: Path | None = None) -> dict[str, Any]:
    env = _env()
    # edgeship's exports, one folder per workload, served together
    serve_dir = exports if exports is not None else work / "serve"
    results: dict[str, Any] = {
        "mode": mode,
        "settings": asdict(settings),
        "machine": machine.describe(),
        "workloads": {},
    }
    for name in settings.workloads:
        if exports is not None:
            results["workloads"][name] = _reused(name, exports / name, settings, env, log)
        else:
            results["workloads"][name] = _workload(name, settings, work, env, log)
    ids = [name for name, entry in results["workloads"].items() if "tflite_latency" in entry]
    missing = browser.missing_prerequisites()
    if missing:
        results["browser"] = {"skipped": missing}
    elif ids:
        epochs = settings.finetune_epochs
        browser_settings = {
            "backends": ["wasm", "webgl", "cpu"],  # tfjs; webgpu joins where the engine finds an adapter
            "plainPages": ["tfjs-default", "tfjs-wasm", "tfjs-tflite", "litert"],
            "runs": settings.browser_runs,
            "warmup": 2,
            # and at least this long: right after `ready` the app still starts things in the background
            "warmupMs": settings.browser_warmup_ms,
            "budgetMs": settings.browser_budget_ms,
            "rounds": settings.browser_rounds,
            "webgpu": settings.webgpu,
            "finetune": {
                # "auto": the app's default training backend (the engine says which it took); the tfjs wasm
                # backend lacks some gradient ops (it computes the frozen start's features instead).
                "backends": ["auto", "webgl", "cpu"],
                "small": {"count": settings.finetune_samples, "epochs": epochs, "batchSize": 16},
                # As a user of the fine-tuning view would: a few classes, a few photos each.
                "large": {
                    "count": settings.finetune_large_samples,
                    "classes": 4,
                    "epochs": epochs,
                    "batchSize": 16,
                },
            },
        }
        _section(results, "browser", log, lambda: browser.run(serve_dir, ids, browser_settings, log))
    results["fine_tuning"] = _fine_tuning(results)
    if not settings.official or exports is not None:
        results["server"] = {"skipped": "not in this mode (--quick or --exports)"}
    elif shutil.which("wrk") is None:
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
    parser.add_argument(
        "--quick", action="store_true", help="browser figures only, 1 round, into a temporary folder"
    )
    parser.add_argument("--only", action="append", choices=WORKLOADS, help="only this workload (repeatable)")
    parser.add_argument("--exports", type=Path, help="reuse these exports (DIR/<workload>/): browser only")
    parser.add_argument(
        "--webgpu", action="store_true", help="WebGPU rows too, through SwiftShader (software, slow)"
    )
    parser.add_argument("--out", type=Path, help="folder for results.json and RESULTS.md")
    parser.add_argument("--keep-work", action="store_true", help="keep the working folder (exports etc.)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick or args.exports else "full"
    settings = {"smoke": SMOKE, "quick": QUICK, "full": FULL}[mode]
    if args.only:
        settings = replace(settings, workloads=tuple(w for w in WORKLOADS if w in args.only))
    if args.exports:
        found = tuple(w for w in settings.workloads if (args.exports / w / "manifest.json").is_file())
        if not found:
            names = ", ".join(WORKLOADS)
            parser.error(f"--exports {args.exports}: no <workload>/manifest.json there ({names})")
        settings = replace(settings, workloads=found, official=False)
    if args.webgpu:
        settings = replace(settings, webgpu=True)
    temporary = mode != "full"
    out = args.out or (Path(tempfile.mkdtemp(prefix=f"edgeship-bench-{mode}-")) if temporary else BENCH_DIR)
    out.mkdir(parents=True, exist_ok=True)
    log = Log()
    work = Path(tempfile.mkdtemp(prefix="edgeship-bench-work-"))
    log(f"{mode} benchmark; working folder {work}")
    try:
        results = run(settings, work, mode, log, args.exports)
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
