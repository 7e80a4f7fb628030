"""What the real `edgeship` command prints for scripts and people: --version, --quiet, export --json, and
library errors with the command line's own names for their parameters (build-site's OUT is positional)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
ROOT = Path(__file__).resolve().parents[1]


def edgeship(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([EDGESHIP, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    import keras

    path = tmp_path_factory.mktemp("model") / "model.keras"
    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]).save(path)
    return path


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def test_version_lists_the_stack() -> None:
    result = edgeship("--version")
    assert result.returncode == 0 and result.stderr == ""
    vendored = ROOT / "webapp" / "static" / "vendor" / "tf.min.js"
    found = re.search(rb'\btfjs:"([^"]+)"', vendored.read_bytes()) if vendored.is_file() else None
    tfjs = found.group(1).decode() if found else "not built (run make setup)"
    assert result.stdout.splitlines() == [
        f"edgeship {metadata.version('edgeship')}",
        f"TensorFlow {_version('tensorflow')}",
        f"Keras {_version('keras')}",
        f"tf-keras {_version('tf-keras')}",
        f"LiteRT (ai-edge-litert) {_version('ai-edge-litert')}",
        f"tfjs {tfjs} (vendored in the web app)",
    ]
    assert not tfjs.startswith("not built")  # this checkout ran make setup: the version was read


def test_the_tfjs_version_of_an_unbuilt_app(tmp_path: Path) -> None:
    from edgeship.versions import tfjs_version

    assert tfjs_version(tmp_path) == "not built (run make setup)"
    (tmp_path / "tf.min.js").write_text('var x={"tfjs-core":a,tfjs:"9.1.2"};')
    assert tfjs_version(tmp_path) == "9.1.2"


def test_export_json_prints_only_the_report_on_stdout(tmp_path: Path, model: Path) -> None:
    out = tmp_path / "out"
    result = edgeship("export", str(model), "--out", str(out), "--variants", "tflite-fp32", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert printed == {"out": str(out), **json.loads((out / "report.json").read_text())}
    assert [row["variant"] for row in printed["rows"]] == ["tflite-fp32"]
    assert f"edgeship: wrote 1 variant(s) to {out}" in result.stderr.splitlines()  # progress: stderr


@pytest.mark.parametrize("where", ["global", "command"])
def test_quiet_prints_nothing_on_success(tmp_path: Path, model: Path, where: str) -> None:
    out = tmp_path / "out"
    args = ["export", str(model), "--out", str(out), "--variants", "tflite-fp32"]
    result = edgeship(*(["--quiet", *args] if where == "global" else [*args, "--quiet"]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (result.stdout, result.stderr) == ("", "")
    assert (out / "report.json").is_file()


def test_quiet_still_prints_the_error_line(tmp_path: Path) -> None:
    result = edgeship("-q", "export", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"ModelLoadError: no model at {tmp_path / 'nope.keras'}; give a .keras file, a .h5 file or a "
        "SavedModel folder\n"
    )


def test_build_site_names_its_positional_out(tmp_path: Path) -> None:
    """Before, `edgeship build-site DIR FILE` said `--out FILE is a file`, though OUT has no flag."""
    (tmp_path / "exports").mkdir()
    (tmp_path / "FILE").write_text("mine")
    result = edgeship("build-site", "exports", "FILE", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "OutputDirError: OUT FILE is a file, not a folder; choose a folder path\n"
    assert (tmp_path / "FILE").read_text() == "mine"


def test_export_names_its_flags(tmp_path: Path, model: Path) -> None:
    result = edgeship("export", str(model), "--out", str(tmp_path / "o"), "--qat-epochs", "0")
    assert result.returncode == 2
    assert result.stderr == "DataError: --qat-epochs 0: give at least 1 epoch\n"
