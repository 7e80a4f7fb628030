"""`python -m bench.run --smoke` keeps working: every section is there with sane numbers.

No timing assertions: this machine is shared and the figures are for bench/RESULTS.md, not for pass/fail.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_SECTIONS = ("meta", "export", "qat", "sizes", "tflite_latency")
VARIANTS = [
    "tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8", "tfjs-fp32", "tfjs-fp16", "tfjs-int8",
]  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-6000:]
    return {
        "results": json.loads((out / "results.json").read_text()),
        "markdown": (out / "RESULTS.md").read_text(),
    }


def numbers(value):
    """Every number in a JSON value (booleans are not numbers here)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, int | float):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    return [n for item in items for n in numbers(item)]


def positive(summary):
    return all(summary[key] > 0 and math.isfinite(summary[key]) for key in ("median", "min", "max"))


def test_every_number_is_finite_and_not_negative(smoke):
    found = numbers({k: v for k, v in smoke["results"].items() if k != "settings"})
    assert found and all(math.isfinite(n) and n >= 0 for n in found)


def test_machine_and_versions_are_recorded(smoke):
    machine = smoke["results"]["machine"]
    assert machine["cores"] > 0 and machine["memory_bytes"] > 0 and machine["cpu"]
    assert machine["python_packages"]["tensorflow"] and machine["npm_packages"]["@tensorflow/tfjs"]


@pytest.mark.parametrize("section", WORKLOAD_SECTIONS)
def test_demo_sections_ran(smoke, section):
    entry = smoke["results"]["workloads"]["demo"][section]
    assert "error" not in entry, entry.get("traceback", entry)


def test_export_compares_both_sides_with_time_and_memory(smoke):
    export = smoke["results"]["workloads"]["demo"]["export"]
    assert export["variants"] == VARIANTS
    for side in ("edgeship", "official"):
        assert positive(export["wall_s"][side]) and positive(export["peak_rss_bytes"][side])
    assert positive(export["wall_ratio"]) and positive(export["peak_ratio"])
    assert smoke["results"]["workloads"]["demo"]["qat"]["wall_s"] > 0


def test_sizes_cover_every_variant_and_the_official_files(smoke):
    rows = {r["variant"]: r for r in smoke["results"]["workloads"]["demo"]["sizes"]["rows"]}
    assert set(rows) == {*VARIANTS, "tflite-qat"}
    assert all(r["bytes"] > 0 and r["percent_of_fp32"] > 0 for r in rows.values())
    assert all(rows[v]["official_bytes"] > 0 for v in VARIANTS)
    assert rows["tflite-fp32"]["percent_of_fp32"] == 100.0


def test_tflite_latency_for_every_tflite_variant_and_both_thread_counts(smoke):
    rows = smoke["results"]["workloads"]["demo"]["tflite_latency"]["rows"]
    assert {r["variant"] for r in rows} == {
        "tflite-fp32",
        "tflite-fp16",
        "tflite-dynamic-int8",
        "tflite-int8",
        "tflite-qat",
    }
    assert all(r["threads"][t]["median_ms"] > 0 for r in rows for t in ("1", "2"))


def test_server_load_has_no_errors(smoke):
    server = smoke["results"]["server"]
    if "skipped" in server:
        pytest.skip(f"server load test skipped by the benchmark: {server['skipped']}")
    assert "error" not in server, server
    assert server["rows"][0]["route"] == "/api/models"
    assert all(r["requests"] > 0 and r["requests_per_s"] > 0 and r["p99_ms"] > 0 for r in server["rows"])
    assert [r["errors"] for r in server["rows"]] == [0] * len(server["rows"])


def test_browser_compares_the_app_with_the_plain_page(smoke):
    browser = smoke["results"]["browser"]
    if "skipped" in browser:
        pytest.skip(f"browser section skipped by the benchmark: {browser['skipped']}")
    assert "error" not in browser, browser.get("traceback", browser)
    model = browser["models"]["demo"]
    ran = [r for r in model["matrix"] if "error" not in r]
    assert {(r["variant"], r["backend"]) for r in ran} >= {("tflite-fp32", "wasm"), ("tfjs-fp32", "wasm")}
    assert all(r["median_ms"] > 0 for r in ran)
    for side in ("edgeship", "plain"):
        assert all(positive(model[side][key]) for key in ("median_ms", "ttfp_cold_ms", "ttfp_cached_ms"))
    assert positive(model["median_ratio"])


def test_fine_tuning_is_measured_per_backend_or_says_why_not(smoke):
    fine = smoke["results"]["fine_tuning"]
    if fine["status"] != "measured":
        pytest.skip(f"fine-tuning not measured: {fine['reason']}")
    rows = fine["models"]["demo"]
    assert rows and all(r["samples_per_s"] > 0 for r in rows if "error" not in r), rows
    assert any("error" not in r for r in rows), rows


def test_results_markdown_has_every_section(smoke):
    for heading in (
        "## Headline",
        "## Export time",
        "## Size",
        "## TFLite latency",
        "## Browser",
        "## Server",
    ):
        assert heading in smoke["markdown"]
