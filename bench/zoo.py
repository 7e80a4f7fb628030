"""`make zoo` / `python -m bench.zoo`: the coverage suite, every keras.applications image-classifier family
exported by the real CLI, one model at a time.

    python -m bench.zoo                      the smallest member of every family -> bench/RESULTS.md, zoo.json
    python -m bench.zoo --all                every member of every family
    python -m bench.zoo --models A,B         just these model functions
    python -m bench.zoo --out DIR            write zoo.json (and RESULTS.md's zoo section) into DIR instead
    python -m bench.zoo --budget 1500        start no model after 1500 s (the rest: "not run")

Per model (bench/zoo_models.py builds it: weights=None, classes=10, smallest input, trained briefly on
digits upsampled to RGB):

    edgeship export model.keras --out OUT --calibration --eval --train --qat-epochs 1 --allow-degraded --json

in a subprocess with a time limit, then: every variant's status (written, degraded, skipped or failed, with
the report's reason), the exit code, TFLite fp32's max diff against Keras (report.json), TFJS fp32's parity
against Keras measured in @tensorflow/tfjs in node (tests/tfjs_predict.mjs on the export's parity inputs),
and the times. --allow-degraded keeps a degraded variant's figures in the table: the "strict exit" column
says what the run would have exited with without it (2 when any variant is degraded).

A model that fails to build, hangs or crashes is recorded with its reason and the others still run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import machine, zoo_report

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
NODE = shutil.which("node")
TFJS_PREDICT = ROOT / "tests" / "tfjs_predict.mjs"
VARIANTS = (
    "tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8", "tflite-qat",
    "tfjs-fp32", "tfjs-fp16", "tfjs-int8",
)  # fmt: skip
NOT_RUN = "not run (time budget spent)"
ROW_KEYS = ("status", "reason", "notes", "max_abs_diff", "agreement", "accuracy", "accuracy_change")
# keras.applications modules that are one family (VGG16 and VGG19 each have a module of their own).
SAME_FAMILY = {"vgg16": "vgg", "vgg19": "vgg"}
# The smallest member of each family (by parameters at its smallest input, classes=10), the default run, in
# the order they run: cheapest first, so that a time budget covers as many families as it can. A family that
# Keras adds later and this table does not know yet runs its alphabetically first member, last.
SMALLEST = {
    "mobilenet_v3": "MobileNetV3Small",  # 1.5 M parameters at 32x32
    "mobilenet_v2": "MobileNetV2",  # 2.3 M
    "mobilenet": "MobileNet",  # 3.2 M
    "efficientnet": "EfficientNetB0",  # 4.1 M
    "nasnet": "NASNetMobile",  # 4.3 M
    "efficientnet_v2": "EfficientNetV2B0",  # 5.9 M
    "densenet": "DenseNet121",  # 7.0 M
    "resnet_v2": "ResNet50V2",  # 23.6 M
    "resnet": "ResNet50",  # 23.6 M
    "xception": "Xception",  # about 21 M at 71x71
    "inception_v3": "InceptionV3",  # about 22 M at 75x75
    "convnext": "ConvNeXtTiny",  # 27.8 M
    "vgg": "VGG16",  # 33.6 M
    "inception_resnet_v2": "InceptionResNetV2",  # about 54 M at 75x75
}


@dataclass(frozen=True)
class Settings:
    train: int = 256
    calibration: int = 64
    eval: int = 128
    epochs: int = 1  # the model's own training before export
    qat_epochs: int = 1
    timeout_s: int = 900  # per model: building and training, then the export
    step_timeout_s: int | None = None  # EDGESHIP_STEP_TIMEOUT for the export's bounded steps (None: its own)
    variants: tuple[str, ...] | None = None  # --variants (None: every variant the data allows)


def env(settings: Settings | None = None) -> dict[str, str]:
    extra = {}
    if settings is not None and settings.step_timeout_s is not None:
        extra["EDGESHIP_STEP_TIMEOUT"] = str(settings.step_timeout_s)
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def families() -> dict[str, list[str]]:
    """Family -> its model functions in keras.applications (Keras 3), found by asking the module itself."""
    command = [
        sys.executable,
        "-c",
        "import json, keras\n"
        "a = keras.applications\n"
        "print(json.dumps({n: getattr(a, n).__module__.rsplit('.', 1)[-1] for n in dir(a)"
        " if n[:1].isupper() and callable(getattr(a, n))}))",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env(), cwd=ROOT, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"listing keras.applications failed:\n{result.stderr[-3000:]}")
    found: dict[str, list[str]] = {}
    for name, module in json.loads(result.stdout.strip().splitlines()[-1]).items():
        found.setdefault(SAME_FAMILY.get(module, module), []).append(name)
    return {family: sorted(names) for family, names in sorted(found.items())}


def select(found: dict[str, list[str]], every_member: bool) -> list[tuple[str, str]]:
    """(family, model) pairs: the smallest member of each family, or every member."""
    order = {family: index for index, family in enumerate(SMALLEST)}
    ordered = sorted(found, key=lambda family: (order.get(family, len(order)), family))
    if every_member:
        return [(family, name) for family in ordered for name in found[family]]
    return [(family, SMALLEST.get(family) or found[family][0]) for family in ordered]


def _run(command: list[str], timeout: float, settings: Settings, cwd: Path) -> tuple[int | None, str, str]:
    """(exit code or None when it ran past `timeout`, stdout, stderr); its whole process group is ended."""
    with subprocess.Popen(
        command, cwd=cwd, env=env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as process:  # fmt: skip
        try:
            out, err = process.communicate(timeout=max(timeout, 1))
            return process.returncode, out, err
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return None, out, err


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else "(no output)"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _error_line(stderr: str) -> str:
    """The CLI's one-line `ClassName: message`, or for a traceback its last line (the exception)."""
    progress = "edgeship: "  # exporter/progress.py's prefix: every other line is the error
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith(progress)]
    return lines[-1][:500] if lines else _last_line(stderr)


def prepare(name: str, folder: Path, cache: Path, settings: Settings, timeout: float) -> dict[str, Any]:
    """Build, train and save the model and its data (bench/zoo_models.py in its own process)."""
    command = [
        sys.executable, "-m", "bench.zoo_models", name, str(folder), "--data-cache", str(cache),
        "--train", str(settings.train), "--calibration", str(settings.calibration),
        "--eval", str(settings.eval), "--epochs", str(settings.epochs),
    ]  # fmt: skip
    code, _, err = _run(command, timeout, settings, ROOT)
    if code is None:
        raise RuntimeError(f"building and training did not finish in {timeout:.0f} s")
    if code != 0:
        raise RuntimeError(f"building and training failed: {_last_line(err)}")
    return json.loads((folder / "meta.json").read_text())


def export(folder: Path, out: Path, settings: Settings, timeout: float) -> dict[str, Any]:
    """The real CLI on the model and its three data files; the report and manifest it wrote, if any."""
    command = [
        EDGESHIP, "export", "model.keras", "--out", str(out),
        "--calibration", "calibration.npz", "--eval", "eval.npz", "--train", "train.npz",
        "--qat-epochs", str(settings.qat_epochs), "--allow-degraded", "--json",
    ]  # fmt: skip
    if settings.variants is not None:
        command += ["--variants", ",".join(settings.variants)]
    started = time.monotonic()
    code, _, err = _run(command, timeout, settings, folder)
    (folder / "export.log").write_text(err)
    result: dict[str, Any] = {"exit_code": code, "export_s": round(time.monotonic() - started, 2)}
    if code is None:
        result["error"] = f"the export did not finish in {timeout:.0f} s (killed)"
    elif code not in (0, 3):
        result["error"] = _error_line(err)
        result["stderr_tail"] = err.splitlines()[-30:]
    if (out / "report.json").exists() and (out / "manifest.json").exists():
        result["report"] = json.loads((out / "report.json").read_text())
        result["manifest"] = json.loads((out / "manifest.json").read_text())
    return result


def tfjs_parity(folder: Path, out: Path, variant: str = "tfjs-fp32") -> dict[str, Any]:
    """Max abs diff between @tensorflow/tfjs (node, cpu backend) running the exported model.json and the
    Keras model, on the export's own parity inputs (rows of eval.npz, whose Keras outputs zoo_models kept)."""
    manifest = json.loads((out / "manifest.json").read_text())
    spec = manifest["variants"].get(variant)
    if spec is None:
        return {"status": "not written"}
    if NODE is None:
        return {"status": "not measured", "reason": "node is missing"}
    inputs = np.ascontiguousarray(decode_array(json.loads((out / spec["parity"]).read_text())["inputs"]))
    with np.load(folder / "eval.npz") as data:
        eval_x = data["x"]
    keras_outputs = np.load(folder / "keras_outputs.npz")["y"]
    rows = {eval_x[i].tobytes(): i for i in range(len(eval_x))}
    picked = [rows.get(sample.astype(eval_x.dtype).tobytes()) for sample in inputs]
    if any(index is None for index in picked):
        return {"status": "not measured", "reason": "the parity inputs are not rows of eval.npz"}
    expected = keras_outputs[[index for index in picked if index is not None]]
    with tempfile.TemporaryDirectory(prefix="edgeship-zoo-tfjs-") as tmp:
        inputs.astype("<f4").tofile(Path(tmp) / "x.bin")
        (Path(tmp) / "inputs.json").write_text(json.dumps([{"shape": list(inputs.shape), "file": "x.bin"}]))
        result = subprocess.run(
            [NODE, str(TFJS_PREDICT), str(out / spec["entry"]), str(Path(tmp) / "inputs.json")],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
        )  # fmt: skip
    if result.returncode != 0:
        return {"status": "failed", "reason": f"tfjs could not run it: {_node_error(result.stderr)}"}
    got = json.loads(result.stdout)[0]
    predicted = np.asarray(got["data"], np.float32).reshape(got["shape"])
    return {
        "status": "measured",
        "samples": len(inputs),
        "max_abs_diff": float(np.abs(predicted - expected).max()),
        "agreement": float(np.mean(predicted.argmax(-1) == expected.argmax(-1))),
    }


def _node_error(stderr: str) -> str:
    """The error line of a node failure: tfjs prints a banner (a row of '=' and advice about tfjs-node) on
    stderr first, and a stack trace ('    at ...') after the message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line and not line.startswith("at ")]
    return (errors[0] if errors else lines[-1] if lines else "(no output)")[:500]


def decode_array(obj: dict[str, Any]) -> np.ndarray:
    """A parity fixture's array (docs/EXPORT_FORMAT.md: shape, dtype, base64 of little-endian bytes)."""
    raw = base64.b64decode(obj["data"])
    return np.frombuffer(raw, dtype=np.dtype(obj["dtype"]).newbyteorder("<")).reshape(obj["shape"])


def variant_rows(exported: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variant -> status, reason, notes and max diff, from report.json (or 'not written' for all)."""
    report = exported.get("report")
    if report is None:
        reason = exported.get("error") or "no report was written"
        return {v: {"status": "not written", "reason": reason} for v in VARIANTS}
    rows = {row["variant"]: row for row in report["rows"]}
    return {
        variant: {key: rows[variant].get(key) for key in ROW_KEYS}
        if variant in rows
        else {"status": "not planned"}
        for variant in VARIANTS
    }


def run_model(
    family: str, name: str, work: Path, settings: Settings, timeout: float, cut_by_budget: bool = False
) -> dict[str, Any]:
    """One model end to end; never raises for the model's sake: what went wrong is recorded.
    `cut_by_budget`: `timeout` is what the run's budget left, not the model's own limit (a kill then says so).
    """
    started = time.monotonic()
    folder, out, cache = work / name, work / name / "export", work / "data"
    folder.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {"family": family, "name": name, "date": _now()}
    try:
        entry["meta"] = prepare(name, folder, cache, settings, timeout)
    except Exception as error:  # recorded in the results; the other models still run
        entry["error"] = _budget_says(str(error), cut_by_budget)
        entry["total_s"] = round(time.monotonic() - started, 2)
        return entry
    exported = export(folder, out, settings, timeout - (time.monotonic() - started))
    entry["exit_code"], entry["export_s"] = exported["exit_code"], exported["export_s"]
    if "error" in exported:
        entry["error"] = exported["error"] = _budget_says(exported["error"], cut_by_budget)
    if "stderr_tail" in exported:
        entry["stderr_tail"] = exported["stderr_tail"]
    entry["variants"] = variant_rows(exported)
    degraded = any(row["status"] == "degraded" for row in entry["variants"].values())
    entry["strict_exit_code"] = 2 if degraded and entry["exit_code"] in (0, 3) else entry["exit_code"]
    manifest = exported.get("manifest") or {}
    entry["manifest_failed"] = manifest.get("failed") or {}
    entry["preprocessing"] = manifest.get("preprocessing")
    if "report" in exported:
        try:
            entry["tfjs_parity"] = tfjs_parity(folder, out)
        except Exception as error:  # a parity harness problem is the harness's, not the model's
            entry["tfjs_parity"] = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
    entry["total_s"] = round(time.monotonic() - started, 2)
    return entry


def _budget_says(error: str, cut_by_budget: bool) -> str:
    if cut_by_budget and "did not finish in" in error:
        return error + ": stopped at the run's time budget (no hang is implied)"
    return error


def run(
    models: list[tuple[str, str]],
    work: Path,
    settings: Settings,
    budget_s: float | None = None,
    log: Callable[[str], None] = print,
    keep_work: bool = False,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {"settings": asdict(settings), "machine": machine.describe(), "models": []}
    for index, (family, name) in enumerate(models, start=1):
        left = None if budget_s is None else budget_s - (time.monotonic() - started)
        if left is not None and left < 60:
            results["models"].append({"family": family, "name": name, "error": NOT_RUN})
            continue
        log(f"[{index}/{len(models)}] {name} ({family})")
        timeout = settings.timeout_s if left is None else min(settings.timeout_s, left)
        entry = run_model(family, name, work, settings, timeout, cut_by_budget=timeout < settings.timeout_s)
        results["models"].append(entry)
        log(f"    {zoo_report.one_line(entry)}")
        if checkpoint is not None:
            checkpoint(results)  # what is done survives a run that is stopped
        if not keep_work:
            shutil.rmtree(work / name, ignore_errors=True)  # exports of big models are large: free the disk
    results["budget_s"], results["duration_s"] = budget_s, round(time.monotonic() - started, 1)
    return results


def carry_over(results: dict[str, Any], previous: dict[str, Any]) -> int:
    """Models this run did not reach (time budget) take their entry from an earlier run's zoo.json, marked
    with that run's date; returns how many. The table marks them: the exporter may have changed since."""
    earlier = {entry["name"]: entry for entry in previous.get("models", []) if "variants" in entry}
    carried = 0
    for index, entry in enumerate(results["models"]):
        if entry.get("error") == NOT_RUN and entry["name"] in earlier:
            old = earlier[entry["name"]]
            results["models"][index] = {**old, "carried_from": old.get("date") or previous["machine"]["date"]}
            carried += 1
    return carried


def partial_writer(path: Path) -> Callable[[dict[str, Any]], None]:
    def write(results: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))

    return write


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def keep_section(previous: Path, markdown: str) -> str:
    """`markdown` (bench.run's new RESULTS.md) with the zoo section of the previous file kept in it."""
    section = zoo_report.section_of(previous.read_text()) if previous.exists() else None
    return zoo_report.merge(markdown, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.zoo", description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every member of every family, not the smallest")
    parser.add_argument("--models", help="comma-separated keras.applications model functions")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="folder of RESULTS.md and zoo.json")
    parser.add_argument("--budget", type=float, help="seconds after which no further model is started")
    parser.add_argument("--timeout", type=int, default=Settings.timeout_s, help="seconds per model")
    parser.add_argument("--train", type=int, default=Settings.train, help="training digits per model")
    parser.add_argument("--epochs", type=int, default=Settings.epochs, help="epochs of training per model")
    parser.add_argument("--note", default="", help="a sentence for the table's header (e.g. what else ran)")
    parser.add_argument(
        "--carry", type=Path, help="an earlier zoo.json: its entries fill in the models the budget left out"
    )
    parser.add_argument(
        "--render", type=Path, help="write RESULTS.md's zoo section from this zoo.json (or partial) and stop"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if args.render is not None:
        write_section(args.out / "RESULTS.md", json.loads(args.render.read_text()))
        return 0
    settings = Settings(timeout_s=args.timeout, train=args.train, epochs=args.epochs)
    found = families()
    if args.models:
        family_of = {name: family for family, names in found.items() for name in names}
        wanted = [name.strip() for name in args.models.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in family_of]
        if unknown:
            parser.error(f"not in keras.applications: {', '.join(unknown)}")
        models = [(family_of[name], name) for name in wanted]
    else:
        models = select(found, args.all)
    work = Path(tempfile.mkdtemp(prefix="edgeship-zoo-"))
    print(f"zoo: {len(models)} model(s), one at a time; working folder {work}", file=sys.stderr, flush=True)
    try:
        partial = args.out / "zoo.partial.json"
        results = run(models, work, settings, args.budget, _log, args.keep_work, partial_writer(partial))
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    results["families"], results["note"] = found, args.note
    if args.carry is not None:
        results["carried"] = carry_over(results, json.loads(args.carry.read_text()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "zoo.json").write_text(json.dumps(results, indent=1))
    partial.unlink(missing_ok=True)
    write_section(args.out / "RESULTS.md", results)
    _log(f"zoo: wrote {args.out / 'zoo.json'} and the zoo section of {args.out / 'RESULTS.md'}")
    return 0


def write_section(results_md: Path, results: dict[str, Any]) -> None:
    """RESULTS.md with its zoo section (between the markers) replaced, or appended; the rest untouched."""
    previous = results_md.read_text() if results_md.exists() else ""
    results_md.write_text(zoo_report.merge(previous, zoo_report.markdown(results)))


if __name__ == "__main__":
    raise SystemExit(main())
