"""Tiny models and data for the tests: built in seconds, trained just enough to be worth quantizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = 4


def quadrant_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images whose class is the brightest quadrant: easy, but needs the convolutions."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1), dtype=np.float32) * 0.5
    y = rng.integers(0, CLASSES, n)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4, 0] += 0.5
    return x, y.astype(np.int64)


def write_data(folder: Path) -> dict[str, Path]:
    x_train, y_train = quadrant_data(512, seed=1)
    x_eval, y_eval = quadrant_data(200, seed=2)
    paths = {"train": folder / "train.npz", "eval": folder / "eval.npz", "calibration": folder / "cal.npz"}
    np.savez(paths["train"], x=x_train, y=y_train)
    np.savez(paths["eval"], x=x_eval, y=y_eval)
    np.savez(paths["calibration"], x=x_train[:100])
    return paths


def keras3_functional(path: Path) -> Path:
    """Keras 3, functional, saved as .keras: Conv+BN, SeparableConv+BN, a residual Add, pooling, softmax."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="pixels")
    a = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inputs)
    a = layers.BatchNormalization(momentum=0.8, name="bn")(a)
    a = layers.ReLU(name="relu")(a)
    b = layers.SeparableConv2D(8, 3, padding="same", name="sep")(a)
    b = layers.BatchNormalization(momentum=0.8, name="sep_bn")(b)
    b = layers.ReLU(name="sep_relu")(b)
    merged = layers.Add(name="residual")([a, b])
    pooled = layers.AveragePooling2D(4, name="quadrants")(merged)
    flat = layers.Flatten(name="flatten")(pooled)
    outputs = layers.Dense(CLASSES, activation="softmax", name="classes")(flat)
    model = keras.Model(inputs, outputs, name="k3_residual")
    _train(model, keras)
    model.save(path)
    return path


def tf_keras_sequential(path: Path) -> Path:
    """tf-keras, Sequential, saved as .h5: Conv+BN, DepthwiseConv+BN, Dense+BN, softmax."""
    import tf_keras
    from tf_keras import layers

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [
            layers.InputLayer((8, 8, 1), name="pixels"),
            layers.Conv2D(8, 3, padding="same", name="conv"),
            layers.BatchNormalization(momentum=0.8, name="bn"),
            layers.ReLU(name="relu"),
            layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="depthwise"),
            layers.BatchNormalization(momentum=0.8, name="dw_bn"),
            layers.ReLU(name="dw_relu"),
            layers.AveragePooling2D(4, name="quadrants"),
            layers.Flatten(name="flatten"),
            layers.Dense(16, name="hidden"),
            layers.BatchNormalization(momentum=0.8, name="hidden_bn"),
            layers.ReLU(name="hidden_relu"),
            layers.Dense(CLASSES, activation="softmax", name="classes"),
        ],
        name="tfk_sequential",
    )
    _train(model, tf_keras)
    model.save(path)
    return path


def _train(model: object, keras_module: object) -> None:
    x, y = quadrant_data(512, seed=1)
    model.compile(  # type: ignore[attr-defined]
        optimizer=keras_module.optimizers.Adam(1e-2),  # type: ignore[attr-defined]
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)  # type: ignore[attr-defined]
