"""The official TFLite path, as a user runs it: one Python process per variant, `tf.lite.TFLiteConverter`.

    python -m bench.official_tflite MODEL.keras VARIANT OUT.tflite [--calibration DATA.npz]

VARIANT is fp32, fp16, dynamic-int8 or int8 (full integer, calibrated on DATA.npz's x). This is the
recipe from the TFLite documentation (post-training quantization), nothing more: no validation, no report.
The environment is the user's: Keras 3 as `keras`, no TF_USE_LEGACY_KERAS.
"""

from __future__ import annotations

import argparse
import os

os.environ.pop("TF_USE_LEGACY_KERAS", None)  # a user's script runs with TensorFlow's defaults
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VARIANTS = ("fp32", "fp16", "dynamic-int8", "int8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="convert one TFLite variant the documented way")
    parser.add_argument("model")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("out")
    parser.add_argument("--calibration")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.models.load_model(args.model)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if args.variant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if args.variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if args.variant == "int8":
        samples = np.load(args.calibration)["x"].astype(np.float32)

        def representative_dataset():
            for sample in samples:
                yield [sample[None]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with open(args.out, "wb") as out:
        out.write(converter.convert())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
