"""`edgeship demo`: a small CNN with batch norm, trained on scikit-learn's bundled digits, exported whole.

The digits (1,797 8x8 images, values 0..16) ship inside the scikit-learn wheel: nothing is downloaded.
The model is saved as a Keras 3 `.keras` file and the data as `.npz` under DIR/source/, so anyone can run
the same export by hand:

    edgeship export DIR/source/model.keras --out DIR --calibration DIR/source/calibration.npz \
        --eval DIR/source/eval.npz --train DIR/source/train.npz
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from exporter import ExportOptions, ExportResult, Progress, export

SEED = 0
EPOCHS = 20
CALIBRATION_SAMPLES = 200
LABELS = [str(d) for d in range(10)]


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed, seeded, stratified split: (x_train, y_train, x_eval, y_eval), x in [0, 1], NHWC."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    x_train, x_eval, y_train, y_eval = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    return x_train, y_train, x_eval, y_eval


def build_model() -> Any:
    """The classic Keras MNIST convnet, with batch norm: two Conv2D + BatchNorm + ReLU blocks, one pooling,
    dropout and a softmax layer (29 k parameters).

    BN momentum 0.9, not 0.99: with 23 steps an epoch, 0.99 averages statistics over weights that training
    has since moved, and the model loses ~4 points of accuracy at inference.
    """
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), name="image"),
            layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
            layers.BatchNormalization(momentum=0.9, name="bn1"),
            layers.ReLU(name="relu1"),
            layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv2"),
            layers.BatchNormalization(momentum=0.9, name="bn2"),
            layers.ReLU(name="relu2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Dropout(0.25, name="dropout"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_cnn",
    )


def train(source: Path, progress: Progress) -> None:
    """Train the demo CNN and write model.keras and the three .npz files into `source`."""
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_eval, y_eval = digits()
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    bar = progress.bar(EPOCHS, "training the digits CNN", unit="epoch")
    model.fit(
        x_train,
        y_train,
        epochs=EPOCHS,
        batch_size=64,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: bar.update(1))],
    )
    bar.close()
    model.save(source / "model.keras")
    pick = np.random.default_rng(SEED).choice(len(x_train), CALIBRATION_SAMPLES, replace=False)
    np.savez(source / "train.npz", x=x_train, y=y_train)
    np.savez(source / "eval.npz", x=x_eval, y=y_eval)
    np.savez(source / "calibration.npz", x=x_train[pick])


def run_demo(out: Path, quiet: bool = False) -> ExportResult:
    progress = Progress(quiet=quiet)
    with tempfile.TemporaryDirectory(prefix="edgeship-demo-") as tmp:
        source = Path(tmp)
        progress.step("training the demo CNN on scikit-learn's digits (1,437 train / 360 eval images)")
        train(source, progress)
        options = ExportOptions(
            model=source / "model.keras",
            out=out,
            calibration=source / "calibration.npz",
            eval=source / "eval.npz",
            train=source / "train.npz",
            name="demo",
            labels=LABELS,
            preprocessing={
                "kind": "image",
                "height": 8,
                "width": 8,
                "channels": 1,
                "range": [0.0, 1.0],
                "ink": "high",
            },
            source_folder=source,
            quiet=quiet,
        )
        return export(options)
