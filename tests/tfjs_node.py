"""TFJS weights as @tensorflow/tfjs itself reads them: node runs tests/tfjs_read_weights.mjs (the real consumer,
not a Python re-implementation of its decoder) and the values come back bit-exact, by name."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
READ_WEIGHTS = REPO / "tests" / "tfjs_read_weights.mjs"
NODE = shutil.which("node")
DTYPES = {"float32": "<f4", "int32": "<i4"}


def read_tfjs_weights(model_json: Path) -> dict[str, np.ndarray]:
    """Weight name -> the array tfjs holds after loading `model_json` (manifest order).

    A model.json with a topology is loaded with `tf.loadLayersModel` (strict); a bare `{"weightsManifest": ...}`
    is decoded with `tf.io.decodeWeights`.
    """
    assert NODE is not None, "node is needed to read TFJS weights with @tensorflow/tfjs (run make setup)"
    assert (REPO / "node_modules/@tensorflow/tfjs").is_dir(), "@tensorflow/tfjs is missing (run make setup)"
    result = subprocess.run(
        [NODE, str(READ_WEIGHTS), str(model_json)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        name: np.frombuffer(base64.b64decode(entry["bytes"]), DTYPES[entry["dtype"]]).reshape(entry["shape"])
        for name, entry in json.loads(result.stdout).items()
    }


def write_manifest(folder: Path, manifest: list[dict]) -> Path:
    """A bare model.json holding only `manifest`, beside the shards in `folder`."""
    path = folder / "weights-only.json"
    path.write_text(json.dumps({"weightsManifest": manifest}))
    return path
