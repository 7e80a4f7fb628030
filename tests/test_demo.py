"""`edgeship demo` through the CLI, and the figures the design promises for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from exporter.config import VARIANTS

KIB = 1024


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "edgeship", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["variant"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    return {"out": out, "rows": rows, "stdout": result.stdout, "stderr": result.stderr}


def test_all_eight_variants_are_written(demo):
    manifest = json.loads((demo["out"] / "manifest.json").read_text())
    assert len(manifest["variants"]) == 8 and manifest["skipped"] == {}
    assert all(row["status"] == "ok" for row in demo["rows"].values())
    assert manifest["labels"] == [str(d) for d in range(10)] and manifest["folded_batchnorm"] == 2


def test_source_is_kept_so_the_export_can_be_rerun_by_hand(demo):
    source = demo["out"] / "source"
    assert sorted(p.name for p in source.iterdir()) == [
        "calibration.npz",
        "eval.npz",
        "model.keras",
        "train.npz",
    ]
    assert np.load(source / "eval.npz")["x"].shape == (360, 8, 8, 1)


@pytest.mark.parametrize(
    ("variant", "share"),
    [("tflite-dynamic-int8", 0.27), ("tflite-int8", 0.27), ("tflite-qat", 0.27), ("tfjs-int8", 0.27),
     ("tflite-fp16", 0.52), ("tfjs-fp16", 0.52)],
)  # fmt: skip
def test_sizes_against_fp32(demo, variant, share):
    target = variant.split("-")[0]
    fp32 = demo["rows"][f"{target}-fp32"]["bytes"]
    assert demo["rows"][variant]["bytes"] <= share * fp32 + 4 * KIB


def test_full_int8_accuracy_within_one_point_and_qat_within_half(demo):
    fp32 = demo["rows"]["tflite-fp32"]["accuracy"]
    assert fp32 >= 0.97  # a real model: the digits CNN reaches ~99 %
    assert abs(demo["rows"]["tflite-int8"]["accuracy"] - fp32) <= 0.01
    assert abs(demo["rows"]["tflite-qat"]["accuracy"] - fp32) <= 0.005


def test_the_table_is_shown(demo):
    lines = demo["stdout"].splitlines()
    assert lines[:2] == [
        "input: 8x8 gray, range [0, 1], resize stretch, ink high (from user)",
        "labels: 10 (0, 1, 2, 3, 4, ...)",
    ]
    header = lines[2].split()
    assert header[:3] == ["variant", "bytes", "%"] and "status" in header
    rows = [line for line in lines[3:] if line.split() and line.split()[-1] in ("ok", "degraded")]
    assert [row.split()[0] for row in rows] == list(VARIANTS)  # one row per variant, in the ladder's order
    # After the table: its legend and the notes, one line each ("tflite-qat: judged by accuracy ...").
    assert "tflite-qat: judged by accuracy (QAT retrains the weights)" in lines[3 + len(rows) :]
