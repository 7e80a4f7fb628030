"""The photo test's export and its reference input (e2e/photo.spec.js; run by e2e/support/photo.js).

python e2e/support/photo_export.py build DIR
    DIR/photo.png: scikit-learn's sample photo (flower.jpg, 427 x 640) centred on a white 700 x 901 canvas,
    saved as PNG so the browser decodes exactly these bytes;
    DIR/exports/photo: a tiny RGB model (32 x 32 x 3 -> 12 classes, trained a few steps) exported with
    labels and input range [-1, 1], centre crop (901 wide: the crop starts at x = 100.5, so the area
    resampling's fractional coverage is exercised).
python e2e/support/photo_export.py reference PNG MANIFEST
    prints {"shape": [H, W, C], "values": [...]}: exporter/image_preprocessing.py's input for the PNG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# More than 10 classes: the app shows the top 5, largest first.
LABELS = [
    "daisy",
    "rose",
    "tulip",
    "sunflower",
    "dandelion",
    "iris",
    "lily",
    "orchid",
    "poppy",
    "lotus",
    "peony",
    "violet",
]
SIDE = 32
CANVAS = (700, 901)  # height, width


def write_photo(path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    flower = np.asarray(load_sample_image("flower.jpg"), dtype=np.uint8)
    canvas = np.full((*CANVAS, 3), 255, dtype=np.uint8)
    top = (CANVAS[0] - flower.shape[0]) // 2
    left = (CANVAS[1] - flower.shape[1]) // 2
    canvas[top : top + flower.shape[0], left : left + flower.shape[1]] = flower
    Image.fromarray(canvas, "RGB").save(path, format="PNG")


def write_model(path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 3), name="photo"),
            layers.Conv2D(4, 3, strides=2, activation="relu", name="conv"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(len(LABELS), activation="softmax", name="classes"),
        ],
        name="tiny_photo",
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, SIDE, SIDE, 3)).astype(np.float32)
    y = rng.integers(0, len(LABELS), 64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(path)


def build(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_photo(folder / "photo.png")
    write_model(folder / "model.keras")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    command = [
        str(Path(sys.executable).with_name("edgeship")), "export", str(folder / "model.keras"),
        "--out", str(folder / "exports" / "photo"), "--variants", "tfjs-fp32,tflite-fp32",
        "--labels", str(folder / "labels.txt"), "--input-range", "-1,1", "--resize", "crop", "--quiet",
    ]  # fmt: skip
    subprocess.run(command, check=True)


def reference(png: Path, manifest: Path) -> None:
    from PIL import Image

    from exporter.image_preprocessing import photo_input

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    values = photo_input(pixels, json.loads(manifest.read_text())["preprocessing"])
    json.dump({"shape": list(values.shape), "values": values.ravel().tolist()}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(Path(sys.argv[2]))
    else:
        reference(Path(sys.argv[2]), Path(sys.argv[3]))
