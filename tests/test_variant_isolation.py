"""One variant's failure never costs the others; no step runs past its time limit.

Through the real CLI in a subprocess: a variant that fails for a real reason (full-integer int8 of a Conv3D
model, which the converter writes with CONV_3D left in float32) is a `failed` row and a manifest entry with
its one-line reason, none of its files stay, the others are written and validated, and the exit code is 3;
when every variant fails, nothing is written and the exit is 2. A variant that runs past
EDGESHIP_STEP_TIMEOUT fails and leaves nothing; the next one is built. `bounded` itself is tested on a real
busy loop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from models import write_data

from exporter.bounded import bounded, step_timeout_s, unbounded
from exporter.errors import DataError, StepTimeout

EDGESHIP = [sys.executable, "-m", "edgeship"]
INT8_CONV3D = (
    "full-integer quantization cannot quantize the op(s) CONV_3D (they would run in float32 inside the int8 "
    "model); use the tflite-dynamic-int8 variant for this model"
)
INT8_RECURRENT = (
    "full-integer quantization of recurrent layers (LSTM, GRU, RNN) crashes the TFLite converter; use the "
    "tflite-dynamic-int8 variant for this model"
)
GRU_TFJS = (
    "no TFJS layers model: GRU (memory); it sets reset_after=True (the Keras default), which TFJS "
    "does not implement; build the GRU with reset_after=False, or use the TFLite variants."
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("isolation")
    write_data(root)
    import keras

    keras.utils.set_random_seed(0)
    # TFLite has no int8 kernel for CONV_3D: tflite-int8 is converted and written, then refused op by op.
    conv3d = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Reshape((4, 4, 4, 1)),
            keras.layers.Conv3D(2, 3, name="volume"),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    conv3d.save(root / "conv3d.keras")
    # TFJS implements only reset_after=False (tfjs_topology refuses it: a skip); full-integer int8 of
    # recurrent layers crashes the TFLite converter (refused: a failure).
    gru = keras.Sequential([keras.Input((8, 8)), keras.layers.GRU(4, name="memory"), keras.layers.Dense(4)])
    gru.save(root / "gru.keras")
    dense = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    dense.save(root / "dense.keras")
    np.savez(root / "gru_cal.npz", x=np.load(root / "cal.npz")["x"][..., 0])
    return root


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [*EDGESHIP, "export", *args], capture_output=True, text=True, env=environment, timeout=timeout
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]


def _previous_export(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"format": "edgeship-export", "previous": true}')
    return out


def _written(out: Path) -> tuple[dict, dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {row["variant"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    return manifest, rows


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def _assert_only_these_files(out: Path, manifest: dict) -> None:
    """Every file in DIR is one the manifest names (or the manifest, report or eval file): a failed
    variant left nothing behind."""
    named = {f["path"] for v in manifest["variants"].values() for f in v["files"]}
    named |= {v["parity"] for v in manifest["variants"].values()}
    browsers = [v["browser"] for v in manifest["variants"].values() if "browser" in v]  # tflite variants
    named |= {f["path"] for b in browsers for f in b["files"]} | {b["parity"] for b in browsers}
    named |= {"manifest.json", "report.json", *([manifest["eval"]] if "eval" in manifest else [])}
    assert _files(out) == named
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]


def test_a_failed_variant_is_reported_and_the_others_are_written(assets, tmp_path):
    out, reason = _previous_export(tmp_path), INT8_CONV3D
    done = run(
        str(assets / "conv3d.keras"), "--out", str(out), "--variants", "tflite-fp32,tflite-int8",
        "--calibration", str(assets / "cal.npz"), "--eval", str(assets / "eval.npz"),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert error_lines(done.stderr) == [
        f"VariantsFailed: 1 variant(s) failed, the others were written to {out}: tflite-int8: {reason}"
    ]
    manifest, rows = _written(out)
    assert "previous" not in manifest  # a partial success is published
    assert manifest["failed"] == {"tflite-int8": reason}
    assert list(manifest["variants"]) == ["tflite-fp32"] and manifest["default_variant"] == "tflite-fp32"
    assert rows["tflite-int8"]["status"] == "failed" and rows["tflite-int8"]["reason"] == reason
    assert rows["tflite-int8"]["bytes"] is None
    assert rows["tflite-fp32"]["status"] == "ok" and rows["tflite-fp32"]["max_abs_diff"] <= 1e-4
    assert not [f for f in _files(out) if f.startswith("tflite/int8")]
    _assert_only_these_files(out, manifest)
    table = done.stdout.splitlines()
    assert any(line.startswith("tflite-int8 ") and line.endswith(f"failed: {reason}") for line in table)
    assert f"tflite-int8: failed ({reason})" in done.stderr  # the progress line, as it happens


def test_when_no_variant_can_be_built_nothing_is_written_and_the_exit_is_2(assets, tmp_path):
    out = _previous_export(tmp_path)
    done = run(
        str(assets / "gru.keras"), "--out", str(out), "--variants", "tflite-int8,tfjs-fp32",
        "--calibration", str(assets / "gru_cal.npz"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert error_lines(done.stderr) == [
        "ConversionError: no variant could be built, so the export was not written: "
        f"tflite-int8: {INT8_RECURRENT}; tfjs-fp32: {GRU_TFJS}"
    ]
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["previous"] is True
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]


def test_the_python_api_returns_the_failures_instead_of_raising(assets, tmp_path):
    """A layer TFJS cannot take, found while building tfjs-fp32, is a skip; the int8 refusal a failure."""
    from exporter.pipeline import ExportOptions, export

    out = tmp_path / "out"
    x = np.load(assets / "gru_cal.npz")["x"]
    result = export(
        ExportOptions(
            model=assets / "gru.keras", out=out, variants=["tflite-fp32", "tflite-int8", "tfjs-fp32"],
            calibration=x, quiet=True,
        )
    )  # fmt: skip
    assert result.exit_code == 3
    rows = {row["variant"]: row for row in result.report["rows"]}
    assert {v: (r["status"], r["reason"]) for v, r in rows.items()} == {
        "tflite-fp32": ("ok", None),
        "tflite-int8": ("failed", INT8_RECURRENT),
        "tfjs-fp32": ("skipped", GRU_TFJS),
    }
    assert result.manifest["failed"] == {"tflite-int8": INT8_RECURRENT}
    assert result.manifest["skipped"] == {"tfjs-fp32": GRU_TFJS}
    assert list(result.manifest["variants"]) == ["tflite-fp32"]
    assert not (out / "tfjs").exists()
    _assert_only_these_files(out, result.manifest)


def test_a_variant_past_its_time_limit_fails_and_the_next_one_is_built(assets, tmp_path, monkeypatch):
    """No real step is reliably past a limit while its neighbours are reliably within it (QAT's training,
    the one step as long as the user asks, runs unbounded), so the stall is made here: tflite-fp32 is
    really converted and written, then spins in a Python loop. The pipeline's limit must stop it, remove
    its file, and build tflite-dynamic-int8 after it from the same (interrupted) context."""
    from exporter import build, pipeline
    from exporter.config import Target

    real = build.CONVERTERS[Target.TFLITE]

    def stalls_after_writing(context, spec, folder):
        artifact = real(context, spec, folder)
        if spec.id == "tflite-fp32":
            assert (folder / artifact.entry).is_file()
            _busy(3600)
        return artifact

    monkeypatch.setitem(build.CONVERTERS, Target.TFLITE, stalls_after_writing)
    monkeypatch.setenv("EDGESHIP_STEP_TIMEOUT", "8")
    out = tmp_path / "out"
    started = time.monotonic()
    result = pipeline.export(
        pipeline.ExportOptions(
            model=assets / "dense.keras", out=out, variants=["tflite-fp32", "tflite-dynamic-int8"],
            eval=assets / "eval.npz", quiet=True, allow_degraded=True,
        )
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.exit_code == 3
    rows = {row["variant"]: row for row in result.report["rows"]}
    assert rows["tflite-fp32"]["status"] == "failed"
    assert rows["tflite-fp32"]["reason"] == (
        "tflite-fp32 did not finish in 8 s, so this variant was stopped there; "
        "if the model is only slow, raise the limit with EDGESHIP_STEP_TIMEOUT=SECONDS"
    )
    assert result.manifest["failed"] == {"tflite-fp32": rows["tflite-fp32"]["reason"]}
    assert rows["tflite-dynamic-int8"]["status"] == "ok"
    assert list(result.manifest["variants"]) == ["tflite-dynamic-int8"]
    assert not [f for f in _files(out) if f.startswith("tflite/fp32")]
    _assert_only_these_files(out, result.manifest)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


def test_an_unexpected_error_is_a_failed_row_that_says_it_is_a_bug():
    from exporter.build import _failure_reason

    limit = bounded(0, "tflite-fp32")
    assert _failure_reason(KeyError("conv/kernel"), "tflite-fp32", limit) == (
        "internal error: KeyError: 'conv/kernel'; this is a bug, please report it"
    )
    assert _failure_reason(AssertionError(), "tflite-fp32", limit) == (
        "internal error: AssertionError; this is a bug, please report it"
    )
    try:  # a library that wraps the timeout in its own error still reports the timeout
        try:
            raise StepTimeout("tflite-qat: quantize_model did not finish in 5 s, so ...")
        except StepTimeout:
            raise RuntimeError("tfmot: cannot quantize") from None
    except RuntimeError as wrapped:
        assert _failure_reason(wrapped, "tflite-qat", limit) == "quantize_model did not finish in 5 s, so ..."


def _busy(seconds: float) -> None:
    """A real busy loop in Python (no sleep, no system call to interrupt)."""
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        total += 1


def test_bounded_stops_a_busy_loop_and_restores_the_handler_and_timer():
    def previous(signum, frame):
        raise AssertionError("the previous handler must not run")

    signal.signal(signal.SIGALRM, previous)
    try:
        started = time.monotonic()
        with pytest.raises(StepTimeout) as caught, bounded(0.3, "tflite-qat: quantize_model") as limit:
            _busy(30)
        assert 0.25 < time.monotonic() - started < 3
        assert limit.expired
        assert str(caught.value) == (
            "tflite-qat: quantize_model did not finish in 0.3 s, so this variant was stopped there; "
            "if the model is only slow, raise the limit with EDGESHIP_STEP_TIMEOUT=SECONDS"
        )
        assert signal.getsignal(signal.SIGALRM) is previous
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        with bounded(5, "fast") as fast:  # a step that finishes in time: nothing happens, timer cleared
            _busy(0.05)
        assert not fast.expired and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def test_nested_limits_keep_the_earlier_deadline_and_their_own_messages():
    with pytest.raises(StepTimeout) as caught, bounded(30, "outer") as outer, bounded(0.2, "inner"):
        _busy(30)
    assert str(caught.value).startswith("inner did not finish in 0.2 s") and not outer.expired
    with pytest.raises(StepTimeout) as caught, bounded(0.2, "outer") as outer, bounded(30, "inner") as inner:
        _busy(30)
    assert str(caught.value).startswith("outer did not finish in 0.2 s")
    assert outer.expired and not inner.expired
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_unbounded_stops_the_clock_of_the_enclosing_limit():
    started = time.monotonic()
    with pytest.raises(StepTimeout), bounded(0.5, "tflite-qat"):
        with unbounded():
            _busy(0.8)  # longer than the whole limit: not counted
        _busy(30)
    assert time.monotonic() - started > 1.2


def test_bounded_only_runs_the_step_outside_the_main_thread():
    results = []

    def work():
        with bounded(0.1, "thread") as limit:
            _busy(0.4)
        results.append(limit.expired)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert results == [False]


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("EDGESHIP_STEP_TIMEOUT", raising=False)
    assert step_timeout_s() == 600
    monkeypatch.setenv("EDGESHIP_STEP_TIMEOUT", "2.5")
    assert step_timeout_s() == 2.5
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("EDGESHIP_STEP_TIMEOUT", bad)
        with pytest.raises(DataError) as caught:
            step_timeout_s()
        assert str(caught.value) == (
            f"EDGESHIP_STEP_TIMEOUT={bad} is not a number of seconds; give one such as 1200 (0: no limit), "
            "or unset it for the default of 600 s"
        )
