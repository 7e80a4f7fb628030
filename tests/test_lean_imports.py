"""The installed `edgeship` keeps the optional libraries TensorFlow and Keras would import (jax, pandas,
scikit-learn, scipy: about 230 MB) out of an export, the whole ladder still builds without them, and a
KERAS_BACKEND meant for the user's own training does not reach it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models import keras3_functional, write_data

from exporter.config import VARIANTS
from exporter.memory import OPTIONAL_IMPORTS

# Runs the console script's entry point, then reports which optional libraries the process imported.
DRIVER = f"""
import sys
from exporter.cli import entry
sys.argv = ["edgeship", *sys.argv[1:]]
code = entry()
print("imported:", sorted(n for n in {OPTIONAL_IMPORTS!r} if sys.modules.get(n) is not None))
sys.exit(code)
"""


def _run(args: list[str], **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env_vars}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_the_whole_ladder_builds_without_the_optional_libraries(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    model = keras3_functional(tmp_path / "model.keras")
    out = tmp_path / "out"
    result = _run([
        "export", str(model), "--out", str(out), "--calibration", str(data["calibration"]),
        "--eval", str(data["eval"]), "--train", str(data["train"]), "--qat-epochs", "1",
    ])  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "imported: []"
    assert sorted(json.loads((out / "manifest.json").read_text())["variants"]) == sorted(VARIANTS)
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert {row["variant"]: row["status"] for row in rows} == dict.fromkeys(VARIANTS, "ok")


# `edgeship demo` keeps scikit-learn and scipy (USES_OPTIONAL): tests/test_demo.py runs it through the same
# entry point, so it fails if the demo's digits could not be loaded.


def test_a_users_keras_backend_does_not_reach_the_export(tmp_path: Path) -> None:
    """KERAS_BACKEND=jax, set for the user's own training, would load the model into jax (kept out here)."""
    model = keras3_functional(tmp_path / "model.keras")
    out = tmp_path / "out"
    result = _run(["export", str(model), "--out", str(out), "--variants", "tflite-fp32"], KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "imported: []"
    assert (out / "manifest.json").is_file()
