"""The installed `edgeship` keeps the optional libraries TensorFlow and Keras would import (jax, pandas,
scikit-learn, scipy: about 230 MB) out of an export, the whole ladder still builds without them, and a
KERAS_BACKEND meant for the user's own training does not reach it.

edgeship's own venv has no jax nor pandas (only tensorflowjs brought them), but a user's may: each optional
library that is not installed is stood in for by a package first on PYTHONPATH that records being imported
(then fails as a missing one would), so the test still sees what the export would import."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from models import keras3_functional, write_data

from edgeship.memory import OPTIONAL_IMPORTS
from exporter.config import VARIANTS

# Runs the console script's entry point, then reports which optional libraries the process imported.
DRIVER = f"""
import sys
from edgeship.cli import entry
sys.argv = ["edgeship", *sys.argv[1:]]
code = entry()
print("imported:", sorted(n for n in {OPTIONAL_IMPORTS!r} if sys.modules.get(n) is not None))
sys.exit(code)
"""


STAND_IN = """import os, pathlib
pathlib.Path(os.environ["EDGESHIP_TEST_IMPORTED"], __name__).touch()
raise ImportError("stand-in for " + __name__)
"""


def _stand_ins(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment, folder of import records): a recording stand-in for each optional library not installed."""
    packages, imported = tmp_path / "stand-ins", tmp_path / "imported"
    imported.mkdir()
    for name in OPTIONAL_IMPORTS:
        if importlib.util.find_spec(name) is None:
            (packages / name).mkdir(parents=True)
            (packages / name / "__init__.py").write_text(STAND_IN)
    path = os.pathsep.join(p for p in (str(packages), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "EDGESHIP_TEST_IMPORTED": str(imported)}, imported


def _run(args: list[str], tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess:
    stand_ins, imported = _stand_ins(tmp_path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **stand_ins, **env_vars}
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert sorted(p.name for p in imported.iterdir()) == [], "the export imported optional libraries"
    return result


def test_the_stand_ins_are_imported_where_edgeship_does_not_keep_them_out(tmp_path: Path) -> None:
    """Without edgeship's entry point, TensorFlow and Keras import jax and pandas: the stand-ins see it."""
    stand_ins, imported = _stand_ins(tmp_path)
    code = "import tensorflow as tf, keras; tf.lite.TFLiteConverter"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **stand_ins}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stood_in = {name for name in OPTIONAL_IMPORTS if importlib.util.find_spec(name) is None}
    assert {"jax", "pandas"} & stood_in <= {p.name for p in imported.iterdir()}


def test_the_whole_ladder_builds_without_the_optional_libraries(tmp_path: Path) -> None:
    data = write_data(tmp_path)
    model = keras3_functional(tmp_path / "model.keras")
    out = tmp_path / "out"
    result = _run([
        "export", str(model), "--out", str(out), "--calibration", str(data["calibration"]),
        "--eval", str(data["eval"]), "--train", str(data["train"]), "--qat-epochs", "1",
    ], tmp_path)  # fmt: skip
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
    args = ["export", str(model), "--out", str(out), "--variants", "tflite-fp32"]
    result = _run(args, tmp_path, KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "imported: []"
    assert (out / "manifest.json").is_file()
