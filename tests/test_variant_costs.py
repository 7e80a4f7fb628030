"""What quantization is for, measured: each variant's load time and peak memory beside its bytes.

One export of a model with 1.1 M weights (4.4 MB in float32), so that memory differences stand well above
the noise of a process's resident set: TFLite figures come from a fresh LiteRT-only process, TFJS figures are
computed (tfjs decodes every weight to float32), and both reach report.json, the table and the manifest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exporter.costs import PROBE

WEIGHTS = 64 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 4 + 4  # Flatten(8x8) -> 1024 -> 1024 -> 4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import tf_keras

    from exporter.pipeline import ExportOptions, export

    folder = tmp_path_factory.mktemp("costs")
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer((8, 8, 1)),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(1024, activation="relu"),
            tf_keras.layers.Dense(1024, activation="relu"),
            tf_keras.layers.Dense(4),
        ]
    )
    assert model.count_params() == WEIGHTS
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)
    result = export(
        ExportOptions(
            model=model, out=folder / "out", calibration=x, allow_degraded=True, quiet=True,
            variants=["tflite-fp32", "tflite-int8", "tfjs-fp32", "tfjs-int8"],
        )
    )  # fmt: skip
    rows = {row["variant"]: row for row in result.report["rows"]}
    return {"out": folder / "out", "rows": rows, "result": result}


def test_tflite_load_time_and_peak_memory_are_measured_and_plausible(exported):
    rows, manifest = exported["rows"], exported["result"].manifest
    for variant in ("tflite-fp32", "tflite-int8"):
        row = rows[variant]
        assert row["peak_memory_kind"] == "measured"
        assert 0 < row["load_ms"] < 2000
        # At least the weights the interpreter reads from the file; not the whole exporter's memory.
        assert row["bytes"] * 0.9 < row["peak_memory_bytes"] < row["bytes"] * 4 + 20e6
        entry = manifest["variants"][variant]
        assert (entry["load_ms"], entry["peak_memory_bytes"]) == (row["load_ms"], row["peak_memory_bytes"])
    # The reason to choose int8: a quarter of the weights, and of the memory they take once loaded.
    assert rows["tflite-int8"]["peak_memory_bytes"] < 0.5 * rows["tflite-fp32"]["peak_memory_bytes"]


def test_tfjs_peak_memory_is_the_float32_weights_it_decodes(exported):
    rows, manifest = exported["rows"], exported["result"].manifest
    for variant in ("tfjs-fp32", "tfjs-int8"):
        assert rows[variant]["peak_memory_bytes"] == 4 * WEIGHTS  # int8 shards: less download, same memory
        assert rows[variant]["peak_memory_kind"] == "computed" and rows[variant]["load_ms"] is None
        assert manifest["variants"][variant]["peak_memory_bytes"] == 4 * WEIGHTS
        assert manifest["variants"][variant]["peak_memory_kind"] == "computed"
    assert json.loads((exported["out"] / "manifest.json").read_text()) == manifest


def test_the_table_shows_load_time_and_memory(exported):
    from exporter.report import Row, table

    shown = table([Row(**row) for row in exported["rows"].values()]).splitlines()
    assert "  ms (tflite)  load ms  peak MB  status" in shown[0]
    fp32 = next(line for line in shown if line.startswith("tflite-fp32 "))
    peak = exported["rows"]["tflite-fp32"]["peak_memory_bytes"] / 1e6
    assert f"  {peak:.2f}  ok" in fp32
    assert f"~{4 * WEIGHTS / 1e6:.2f}" in next(line for line in shown if line.startswith("tfjs-int8 "))
    assert shown[-1] == (
        "peak MB: measured for TFLite (a fresh process loads and runs the file once); "
        "~ computed for TFJS (the float32 weights tfjs holds once loaded)"
    )


def test_the_probe_imports_no_tensorflow(exported):
    """The probe's memory is a runtime's: it must never import TensorFlow or Keras."""
    entry = exported["out"] / exported["result"].manifest["variants"]["tflite-int8"]["entry"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", str(PROBE), str(entry)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "ai_edge_litert" in imported
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "exporter")}
    figures = json.loads(done.stdout)
    assert figures["peak_memory_bytes"] > 0 and figures["load_ms"] > 0


def test_a_manifest_with_a_malformed_cost_is_refused(exported):
    from webapp.manifest_shape import manifest_problem

    manifest = exported["result"].manifest
    assert manifest_problem(manifest) is None
    for field, bad in (("load_ms", "fast"), ("load_ms", -1.0), ("peak_memory_bytes", 1.5)):
        broken = json.loads(json.dumps(manifest))
        broken["variants"]["tflite-int8"][field] = bad
        expected = "non-negative number" if field == "load_ms" else "non-negative integer"
        assert manifest_problem(broken) == f"variants['tflite-int8'].{field} must be a {expected}"


def test_costs_are_documented():
    text = (Path(__file__).parents[1] / "docs" / "EXPORT_FORMAT.md").read_text()
    for name in ('"load_ms"', '"peak_memory_bytes"', '"peak_memory_kind"', '"failed"'):
        assert name in text
