"""What @tensorflow/tfjs saves back (a model fine-tuned in the browser) differs from edgeship's TFJS topology
only in keys the server's fine-tune check counts as their defaults (webapp/finetune_checks/topology.py).

tfjs-layers 4.22 leaves out config keys it does not model when it saves; a key the export writes that tfjs
drops, and the check does not default, turns every real browser upload into a 400. Seen on tf-keras 2.21,
which added InputLayer's `optional` to the topology that 2.19 wrote without it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from models import keras3_functional, tf_keras_sequential, write_data
from tfjs_node import NODE, REPO

from webapp.finetune_checks.topology import DEFAULTS

RESAVE = REPO / "tests" / "tfjs_resave.mjs"
BUILDERS = {
    "keras3-functional": (keras3_functional, "model.keras"),
    "tfkeras-h5": (tf_keras_sequential, "model.h5"),
}


def _exported_topology(tmp_path: Path, builder: str) -> Path:
    from exporter.pipeline import ExportOptions, export

    build, filename = BUILDERS[builder]
    data = write_data(tmp_path)
    out = tmp_path / "export"
    export(ExportOptions(model=build(tmp_path / filename), out=out, calibration=data["calibration"],
                         variants=["tfjs-fp32"], quiet=True))  # fmt: skip
    entry = json.loads((out / "manifest.json").read_text())["variants"]["tfjs-fp32"]["entry"]
    return out / entry


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_tfjs_drops_only_keys_the_fine_tune_check_defaults(tmp_path, builder):
    assert NODE is not None, "node is needed to run @tensorflow/tfjs (run make setup)"
    model_json = _exported_topology(tmp_path, builder)
    result = subprocess.run(
        [NODE, str(RESAVE), str(model_json)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = {_name(layer): layer for layer in json.loads(result.stdout)["config"]["layers"]}
    exported = json.loads(model_json.read_text())["modelTopology"]["config"]["layers"]
    assert [_name(layer) for layer in exported] == list(saved)
    for layer in exported:
        dropped = {k: v for k, v in layer["config"].items() if k not in saved[_name(layer)]["config"]}
        undefaulted = {k: v for k, v in dropped.items() if k not in DEFAULTS or DEFAULTS[k] != v}
        assert undefaulted == {}, f"{_name(layer)} ({layer['class_name']}): tfjs drops {undefaulted}"


def _name(layer: dict) -> str:
    return layer.get("name") or layer["config"]["name"]  # a Sequential's layers carry it in their config
