"""edgeship: export a Keras/TensorFlow model to a validated ladder of TFLite and TFJS variants.

Importing this package must not import TensorFlow: GPU options have to be applied before TensorFlow
initialises its devices (see `exporter.gpu`).
"""

import os

# tensorflow-model-optimization (QAT) works only with tf-keras, and `tf.keras` must be tf-keras for the
# TFLite converter to accept the tf-keras models the exporter builds. Keras 3 stays importable as `keras`.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Keras 3 loads .keras files into TensorFlow only with its TensorFlow backend; a KERAS_BACKEND=jax (or torch)
# meant for the user's own training must not reach the export, where it fails deep inside the converter.
os.environ["KERAS_BACKEND"] = "tensorflow"
# tensorflowjs imports TF Decision Forests, whose welcome banner imports IPython whenever stdout is not a
# terminal (pytest, pipes) and fails without it.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

__version__ = "0.1.0"
