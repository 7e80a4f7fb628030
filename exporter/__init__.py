"""exporter: export a Keras/TensorFlow model to a validated ladder of TFLite and TFJS variants.

This is the library, and this module is its public API: the command line (`edgeship`), the web app
(`webapp`) and notebooks use these names and nothing deeper. It imports nothing else of edgeship's.

    import exporter

    result = exporter.export(exporter.ExportOptions(model=model, out="dist/m", calibration=x, eval=(x, y)))
    result.report["rows"]  # one row per variant, as report.json holds it

`model` is a path (.keras, .h5, a SavedModel folder) or a Keras model object (Keras 3 or tf-keras); each
data option is an .npz path or arrays (`x`, or `(x, y)`). Every error a user can cause is an
`EdgeshipError` subclass whose message says what to change.

Importing this package must not import TensorFlow: GPU options have to be applied before TensorFlow
initialises its devices (see `exporter.gpu`), so the names that need it load on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from exporter.config import DEFAULT_SHARD_SIZE, VARIANTS, Need, Precision, Target, VariantSpec
from exporter.errors import (
    ConversionError,
    DataError,
    EdgeshipError,
    GpuConfigError,
    ModelLoadError,
    OutputDirError,
    UnsafeModelError,
    UnsupportedModelError,
    ValidationError,
    parameter,
)

# tensorflow-model-optimization (QAT) works only with tf-keras, and `tf.keras` must be tf-keras for the
# TFLite converter to accept the tf-keras models the exporter builds. Keras 3 stays importable as `keras`.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Keras 3 loads .keras files into TensorFlow only with its TensorFlow backend; a KERAS_BACKEND=jax (or torch)
# meant for the user's own training must not reach the export, where it fails deep inside the converter.
os.environ["KERAS_BACKEND"] = "tensorflow"

__version__ = "0.1.0"

# Loaded on first use: name -> the module that defines it.
_LAZY = {
    "export": "exporter.pipeline",
    "ExportOptions": "exporter.pipeline",
    "ExportResult": "exporter.pipeline",
    "Progress": "exporter.progress",  # progress lines on stderr, bars on a terminal (the demo's too)
    # Output folders, for apps that write their own (the web app's build-site): the same rules as export's.
    "OutputRule": "exporter.outdir",
    "SITE_RULE": "exporter.outdir",
    "SITE_MARKER": "exporter.outdir",
    "check_replaceable": "exporter.outdir",
    "staged_output": "exporter.outdir",
    "lock_file": "exporter.outdir",
    # TFJS layers models: weights set by their TFJS names (the web app rebuilds fine-tuned models with it).
    "set_weights_by_tfjs_name": "exporter.tfjs_topology",
}

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "SITE_MARKER",
    "SITE_RULE",
    "VARIANTS",
    "ConversionError",
    "DataError",
    "EdgeshipError",
    "ExportOptions",
    "ExportResult",
    "GpuConfigError",
    "ModelLoadError",
    "Need",
    "OutputDirError",
    "OutputRule",
    "Precision",
    "Progress",
    "Target",
    "UnsafeModelError",
    "UnsupportedModelError",
    "ValidationError",
    "VariantSpec",
    "__version__",
    "check_replaceable",
    "export",
    "lock_file",
    "parameter",
    "set_weights_by_tfjs_name",
    "staged_output",
]

if TYPE_CHECKING:
    from exporter.outdir import (
        SITE_MARKER,
        SITE_RULE,
        OutputRule,
        check_replaceable,
        lock_file,
        staged_output,
    )
    from exporter.pipeline import ExportOptions, ExportResult, export
    from exporter.progress import Progress
    from exporter.tfjs_topology import set_weights_by_tfjs_name


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exporter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
