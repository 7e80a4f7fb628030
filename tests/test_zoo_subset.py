"""The coverage suite's CI subset: `make zoo`'s own code (bench/zoo.py) on the keras.applications models
that between them need every TFJS lowering and the partial QAT, with issue 14's acceptance asserted.

- MobileNetV3Small: hard-swish / hard-sigmoid written as tensor arithmetic (`x + 3`, `x * (1/6)`), squeeze-
  and-excite Multiply, a Rescaling at the input.
- EfficientNetB0: Rescaling + Normalization at the input (QAT must leave them float: partial QAT), swish,
  squeeze-and-excite Multiply.

Each is built with weights=None at 32x32x3, trained briefly on digits, exported by the real CLI in a
subprocess, and its tfjs-fp32 model.json run in @tensorflow/tfjs (node) against the Keras model.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # bench/ is a folder of the checkout, not installed
from bench import zoo, zoo_report

SUBSET = {"MobileNetV3Small": "mobilenet_v3", "EfficientNetB0": "efficientnet"}
# Few samples and one epoch each: the figures are for coverage, not accuracy (<= 120 s for both on 2 cores).
SETTINGS = zoo.Settings(train=64, calibration=32, eval=32, epochs=1, qat_epochs=1, timeout_s=600)
# QAT is the export's costliest step (~60 % of EfficientNetB0's): the partial QAT is covered by EfficientNetB0.
SETTINGS_OF = {
    "MobileNetV3Small": replace(SETTINGS, variants=tuple(v for v in zoo.VARIANTS if v != "tflite-qat")),
    "EfficientNetB0": SETTINGS,
}
PARITY = 1e-4  # issue 14: TFJS fp32 agrees with Keras to <= 1e-4
FLOAT_VARIANTS = ("tflite-fp32", "tflite-fp16")
QUANTIZED_TFLITE = ("tflite-dynamic-int8", "tflite-int8")
WRITTEN = ("ok", "degraded")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def zoo_results(tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("zoo")
    return {
        name: zoo.run_model(family, name, work, SETTINGS_OF[name], SETTINGS.timeout_s)
        for name, family in SUBSET.items()
    }


def _explain(entry: dict) -> str:
    """What a failing assertion shows: the model's rows with their reasons, or why it was not exported."""
    return "\n".join([*zoo_report.reasons(entry), str(entry.get("stderr_tail", ""))])


@pytest.mark.parametrize("name", SUBSET)
def test_the_export_never_fails_as_a_whole(zoo_results, name):
    entry = zoo_results[name]
    assert entry.get("exit_code") == 0, _explain(entry)
    failed = [v for v, row in entry["variants"].items() if row["status"] == "failed"]
    assert failed == [], _explain(entry)


@pytest.mark.parametrize("name", SUBSET)
def test_every_tflite_variant_is_written_and_validated(zoo_results, name):
    """fp32 and fp16 within their tolerance; the int8 ones written with their metrics (a model trained for
    one epoch on 64 digits has near-tied classes, so its int8 agreement says little about the converter)."""
    rows = zoo_results[name]["variants"]
    for variant in FLOAT_VARIANTS:
        assert rows[variant]["status"] == "ok", _explain(zoo_results[name])
    for variant in QUANTIZED_TFLITE:
        assert rows[variant]["status"] in WRITTEN, _explain(zoo_results[name])
        assert rows[variant]["max_abs_diff"] is not None and rows[variant]["agreement"] is not None


@pytest.mark.parametrize("name", SUBSET)
def test_every_tfjs_variant_is_written(zoo_results, name):
    rows = zoo_results[name]["variants"]
    assert [rows[v]["status"] in WRITTEN for v in zoo_report.TFJS] == [True] * 3, _explain(zoo_results[name])


@pytest.mark.parametrize("name", SUBSET)
def test_tfjs_fp32_agrees_with_keras_in_tfjs(zoo_results, name):
    entry = zoo_results[name]
    parity = entry.get("tfjs_parity") or {}
    assert parity.get("status") == "measured", _explain(entry)
    assert parity["samples"] >= 8
    assert parity["max_abs_diff"] <= PARITY, parity


@pytest.mark.parametrize("name", SUBSET)
def test_the_parity_reference_depends_on_its_input(zoo_results, name):
    """A model whose outputs hardly change with the input would pass the parity check for any lowering."""
    meta = zoo_results[name].get("meta")
    assert meta is not None, _explain(zoo_results[name])
    assert meta["output_spread"] > 100 * PARITY


def test_qat_leaves_efficientnet_preprocessing_in_float(zoo_results):
    qat = zoo_results["EfficientNetB0"]["variants"]["tflite-qat"]
    assert qat["status"] in WRITTEN, _explain(zoo_results["EfficientNetB0"])
    notes = " ".join(qat.get("notes") or [])
    assert "in float" in notes and "rescaling" in notes and "normalization" in notes, notes


def test_the_table_has_a_row_per_model_between_the_markers(zoo_results, tmp_path):
    results = {
        "settings": asdict(SETTINGS),
        "machine": zoo.machine.describe(),
        "models": list(zoo_results.values()),
        "duration_s": 1.0,
    }
    section = zoo_report.markdown(results)
    assert section.startswith(zoo_report.START) and section.endswith(zoo_report.END)
    for name, family in SUBSET.items():
        assert f"| {family} | {name} | 32x32x3 |" in section
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# bench\n\n" + section + "\n\n## after\n")
    rerun = zoo_report.merge(results_md.read_text(), section.replace("32x32x3", "32x32x3*"))
    assert rerun.count(zoo_report.START) == 1 and "32x32x3*" in rerun and rerun.endswith("## after\n")
    kept = zoo.keep_section(results_md, "# bench rewritten by bench.run\n")  # make bench keeps the section
    assert kept.startswith("# bench rewritten by bench.run\n") and zoo_report.section_of(kept) == section


def test_every_keras_applications_family_has_its_smallest_member_named():
    found = zoo.families()
    assert {"mobilenet", "mobilenet_v2", "mobilenet_v3", "efficientnet", "efficientnet_v2", "resnet"} <= set(
        found
    )
    assert {family: zoo.SMALLEST.get(family) in names for family, names in found.items()} == dict.fromkeys(
        found, True
    )
    assert (zoo.SMALLEST["vgg"], zoo.SMALLEST["mobilenet_v3"]) == ("VGG16", "MobileNetV3Small")
    assert Path(zoo.TFJS_PREDICT).is_file()
