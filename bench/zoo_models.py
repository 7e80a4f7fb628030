"""The coverage suite's models: every image classifier in keras.applications, built, briefly trained, saved.

    python -m bench.zoo_models NAME DIR [--train N --calibration N --eval N --epochs N --data-cache DIR]

writes, as a user would have them on disk:

    DIR/model.keras        keras.applications.NAME(weights=None, classes=10) at its smallest input size
    DIR/train.npz          x, y: digits upsampled to RGB, through the family's own preprocess_input
    DIR/calibration.npz    x: other digits, the same way
    DIR/eval.npz           x, y: held-out digits, the same way
    DIR/keras_outputs.npz  y: the Keras model's outputs on eval.npz's x (the parity reference)
    DIR/meta.json          name, family, input shape, preprocessing mode, parameters, accuracy, times

Run in a process of its own (bench/zoo.py starts one per model) so that no model's memory outlives it.
The digits are upsampled once per input size and kept in --data-cache, shared by every model of that size.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

SEED = 0
CLASSES = 10
SMALLEST_SIDE = 32  # keras.applications' own floor for most families; others say theirs in the error
# Which public module holds each family's preprocess_input when it is not the model function's own module.
PUBLIC_MODULE = "keras.applications."
# The preprocess_input modes (keras.applications' docs): what the family's models expect as input.
MODES = {
    "convnext": "none (the model rescales 0..255 itself)",
    "efficientnet": "none (the model rescales 0..255 itself)",
    "efficientnet_v2": "none (the model rescales 0..255 itself)",
    "mobilenet_v3": "none (the model rescales 0..255 itself)",
    "resnet": "caffe (BGR, ImageNet mean subtracted)",
    "vgg16": "caffe (BGR, ImageNet mean subtracted)",
    "vgg19": "caffe (BGR, ImageNet mean subtracted)",
    "densenet": "torch (0..1, ImageNet mean/std)",
}


def family_module(name: str) -> str:
    """The keras.applications submodule a model function lives in, e.g. 'mobilenet_v3'."""
    import keras

    return str(getattr(keras.applications, name).__module__).rsplit(".", 1)[-1]


def build(name: str) -> tuple[Any, int]:
    """keras.applications.NAME at its smallest square input: 32, or the minimum its error message names."""
    import keras

    function = getattr(keras.applications, name)
    side = SMALLEST_SIDE
    try:
        return function(weights=None, input_shape=(side, side, 3), classes=CLASSES), side
    except ValueError as error:
        found = re.search(r"at least (\d+)x\1", str(error))
        if not found:
            raise
        side = int(found.group(1))
    return function(weights=None, input_shape=(side, side, 3), classes=CLASSES), side


def digits_rgb(side: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as SIDE x SIDE x 3 uint8 images (0..255, bilinear), shuffled; cached per side."""
    path = cache / f"digits-{side}.npz"
    if path.exists():
        with np.load(path) as data:
            return data["x"], data["y"]
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(SEED).permutation(len(digits.target))
    small = (digits.images[order] / 16.0 * 255.0).astype(np.float32)[..., None]
    large = tf.image.resize(small, (side, side), method="bilinear").numpy()
    x = np.repeat(np.clip(np.rint(large), 0, 255).astype(np.uint8), 3, axis=-1)
    y = digits.target[order].astype(np.int64)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, x=x, y=y)
    partial.replace(path)  # whole or absent: another model's process may read it next
    return x, y


def preprocess(module: str, images: np.ndarray) -> np.ndarray:
    """The family's own preprocess_input on 0..255 RGB images, as float32."""
    family = importlib.import_module(PUBLIC_MODULE + module)
    return np.asarray(family.preprocess_input(images.astype(np.float32).copy()), dtype=np.float32)


def reestimate_batchnorm(model: Any, x: np.ndarray, batch: int = 128) -> None:
    """Every BatchNormalization's moving statistics set to those of one training-mode pass over `x`.

    A few steps of training leave the moving statistics at their initial 0 and 1 (momentum 0.99 or more), so
    in inference the model's outputs hardly depend on its input, and a parity check on such outputs would
    pass for any lowering. With momentum 0 for one pass, each layer takes its batch's own statistics.
    """
    import keras

    norm = keras.layers.BatchNormalization
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, norm)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(x[:batch], training=True)
    for layer, momentum in zip(layers, saved, strict=True):
        layer.momentum = momentum


def prepare(name: str, folder: Path, counts: dict[str, int], epochs: int, cache: Path) -> dict[str, Any]:
    import keras

    keras.utils.set_random_seed(SEED)
    started = time.monotonic()
    module = family_module(name)
    model, side = build(name)
    images, labels = digits_rgb(side, cache)
    n_train, n_cal, n_eval = counts["train"], counts["calibration"], counts["eval"]
    if n_train + n_cal + n_eval > len(labels):
        raise SystemExit(f"only {len(labels)} digits: ask for fewer samples")
    x = preprocess(module, images[: n_train + n_cal + n_eval])
    y = labels[: n_train + n_cal + n_eval]
    train_x, cal_x, eval_x = x[:n_train], x[n_train : n_train + n_cal], x[n_train + n_cal :]
    train_y, eval_y = y[:n_train], y[n_train + n_cal :]

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    fit_started = time.monotonic()
    model.fit(train_x, train_y, epochs=epochs, batch_size=32, verbose=0)
    fit_s = time.monotonic() - fit_started
    reestimate_batchnorm(model, train_x)
    outputs = model.predict(eval_x, batch_size=32, verbose=0)
    model.save(folder / "model.keras")
    np.savez(folder / "train.npz", x=train_x, y=train_y)
    np.savez(folder / "calibration.npz", x=cal_x)
    np.savez(folder / "eval.npz", x=eval_x, y=eval_y)
    np.savez(folder / "keras_outputs.npz", y=outputs.astype(np.float32))
    return {
        "name": name,
        "family": module,
        "input_shape": [side, side, 3],
        "preprocessing": MODES.get(module, "tf ([-1, 1])"),
        "input_range": [float(x.min()), float(x.max())],
        "parameters": int(model.count_params()),
        "samples": dict(counts),
        "epochs": epochs,
        "keras_eval_accuracy": float(np.mean(np.argmax(outputs, axis=-1) == eval_y)),
        # how much the outputs depend on the input: a parity diff means something only well below this
        "output_spread": float(np.abs(outputs - outputs.mean(axis=0)).max()),
        "fit_s": round(fit_s, 2),
        "prepare_s": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.zoo_models", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a keras.applications model function, e.g. MobileNetV3Small")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--calibration", type=int, default=64)
    parser.add_argument("--eval", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-cache", type=Path, help="folder for the upsampled digits (default: DIR)")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    counts = {"train": args.train, "calibration": args.calibration, "eval": args.eval}
    meta = prepare(args.name, args.folder, counts, args.epochs, args.data_cache or args.folder)
    (args.folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
