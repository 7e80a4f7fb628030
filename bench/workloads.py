"""The two workloads, written to a folder as a user would have them on disk.

    DIR/model.keras        Keras 3 model (what edgeship is given)
    DIR/model.h5           the same weights as a tf-keras model (what the official tensorflowjs_converter
                           needs: its output for a Keras 3 model does not load in tfjs 4.22)
    DIR/calibration.npz    x: 100 fixed samples in the model's input range (both sides calibrate on these)
    DIR/eval.npz           x, y: edgeship's validation data
    DIR/train.npz          x, y: data for the separately timed QAT export
    DIR/meta.json          name, input shape, input range, parameter count, what the data is

Run in its own process (`python -m bench.workloads NAME DIR`) so the benchmark's own process never holds
TensorFlow's memory while it measures others.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # as edgeship sets it: tf.keras is tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

WORKLOADS = ("demo", "mobilenetv2")
CALIBRATION_SAMPLES = 100
SEED = 0


def _save_twins(model, folder: Path) -> None:
    from exporter.keras_compat import to_tf_keras

    model.save(folder / "model.keras")
    to_tf_keras(model).save(folder / "model.h5")


def demo(folder: Path, epochs: int | None = None) -> dict:
    """The digits CNN of `edgeship demo`, trained the same way (fewer epochs if given); real digits."""
    import keras

    from edgeship import demo as edgeship_demo
    from edgeship.demo import train
    from exporter.progress import Progress

    if epochs is not None:
        edgeship_demo.EPOCHS = epochs  # the smoke run only needs a model, not a good one

    with tempfile.TemporaryDirectory(prefix="edgeship-bench-demo-") as tmp:
        source = Path(tmp)
        train(source, Progress(quiet=True))
        model = keras.models.load_model(source / "model.keras")
        calibration = np.load(source / "calibration.npz")["x"][:CALIBRATION_SAMPLES]
        with np.load(source / "eval.npz") as data:
            np.savez(folder / "eval.npz", x=data["x"], y=data["y"])
        with np.load(source / "train.npz") as data:
            np.savez(folder / "train.npz", x=data["x"], y=data["y"])
    np.savez(folder / "calibration.npz", x=calibration)
    _save_twins(model, folder)
    return {
        "name": "demo",
        "title": "digits CNN (edgeship demo)",
        "input_shape": [8, 8, 1],
        "input_range": [0.0, 1.0],
        "parameters": int(model.count_params()),
        "data": "scikit-learn digits: 100 calibration images, 360 labelled eval images, 1,437 train images",
    }


def mobilenetv2(folder: Path, eval_samples: int = 100, train_samples: int = 64) -> dict:
    """keras.applications.MobileNetV2(weights=None): random weights, no download; random-but-fixed data."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(SEED)

    def inputs(n: int) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, 224, 224, 3)).astype(np.float32)

    np.savez(folder / "calibration.npz", x=inputs(CALIBRATION_SAMPLES))
    np.savez(folder / "eval.npz", x=inputs(eval_samples), y=rng.integers(0, 1000, eval_samples))
    np.savez(folder / "train.npz", x=inputs(train_samples), y=rng.integers(0, 1000, train_samples))
    _save_twins(model, folder)
    return {
        "name": "mobilenetv2",
        "title": "MobileNetV2 224x224x3 (weights=None)",
        "input_shape": [224, 224, 3],
        "input_range": [-1.0, 1.0],
        "parameters": int(model.count_params()),
        "data": (
            f"random-but-fixed inputs in [-1, 1] (seed {SEED}): {CALIBRATION_SAMPLES} calibration samples, "
            f"{eval_samples} eval and {train_samples} train samples with random labels (timing only: "
            "accuracy figures mean nothing for this workload)"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--epochs", type=int, help="train the demo for this many epochs (smoke runs)")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    meta = demo(args.folder, args.epochs) if args.workload == "demo" else mobilenetv2(args.folder)
    (args.folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
