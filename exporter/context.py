"""What every target's `convert` receives (the context) and returns (the artifact)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from exporter.config import VariantSpec
from exporter.data import Dataset
from exporter.loading import LoadedModel
from exporter.progress import Progress
from exporter.tflite_runtime import TfliteRunner


@dataclass
class ExportContext:
    source: LoadedModel  # the float reference, as loaded
    inference_model: Any | None  # tf-keras model, batch norm folded; None when Keras layers are unavailable
    calibration: Dataset | None
    train: Dataset | None
    parity_inputs: np.ndarray  # the samples every parity fixture is computed on
    shard_size: int
    qat_epochs: int
    progress: Progress
    single_sample: bool = False  # set once the converter refused a free batch: no need to try again
    fp32_flatbuffer: bytes | None = None  # tflite-fp32 of this run, when built: tfjs-fp32's reference too

    @cached_property
    def concrete_function(self) -> Any:
        """The float model traced once; every TFLite conversion starts from this trace."""
        return self._trace(batch=None)

    @cached_property
    def single_sample_function(self) -> Any:
        """The same with a batch of 1, for models the converter cannot take with a free batch (RNNs)."""
        return self._trace(batch=1)

    def _trace(self, batch: int | None) -> Any:
        model: Any = self.inference_model if self.inference_model is not None else self.source.keras_model
        spec = self.source.input
        return trace(model, spec.shape, spec.dtype, spec.name, batch=batch)

    def tflite_converter(self, single_sample: bool = False) -> Any:
        import tensorflow as tf

        if self.source.kind == "savedmodel" and self.inference_model is None:
            if single_sample:  # from_saved_model keeps the signature's free batch: trace it with batch 1
                return tf.lite.TFLiteConverter.from_concrete_functions([self._signature_trace()])
            return tf.lite.TFLiteConverter.from_saved_model(str(self.source.path))
        # No trackable object on purpose: with one, every convert() first writes the whole model out as a
        # SavedModel (10 of 11 s for MobileNetV2); without, it freezes the trace (0.7 s), same flatbuffer ops.
        function = self.single_sample_function if single_sample else self.concrete_function
        return tf.lite.TFLiteConverter.from_concrete_functions([function])

    def _signature_trace(self) -> Any:
        """A plain SavedModel's serving signature called with a batch of 1 (it has no Keras layers)."""
        import tensorflow as tf

        loaded: Any = self.source.keras_model  # what tf.saved_model.load returned (exporter/saved_model.py)
        signature = loaded.signatures["serving_default"]
        spec, output = self.source.input, self.source.output.name
        tensor = tf.TensorSpec([1, *spec.shape[1:]], tf.as_dtype(spec.dtype), name=spec.name)
        return tf.function(lambda x: signature(**{spec.name: x})[output]).get_concrete_function(tensor)


def trace(
    model: Any,
    shape: tuple[int | None, ...],
    dtype: str = "float32",
    name: str = "input",
    batch: int | None = None,
) -> Any:
    """A concrete function of `model` in inference mode, batch dimension free unless `batch` is given."""
    import tensorflow as tf

    spec = tf.TensorSpec([batch, *shape[1:]], tf.as_dtype(dtype), name=name)
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


@dataclass
class BrowserFile:
    """The browser's copy of a TFLite variant: batch 1, float32 input and output (docs/EXPORT_FORMAT.md)."""

    entry: Path
    parity_path: Path
    input_shape: list[int]


@dataclass
class Artifact:
    """A written variant: its files (relative to the export folder) and a runner that stands for it."""

    spec: VariantSpec
    entry: Path
    files: list[Path]
    runner: TfliteRunner | None  # computes what the variant computes; released once validated
    parity: dict[str, Any]  # the parity fixture (see docs/EXPORT_FORMAT.md)
    parity_path: Path
    manifest_fields: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    notes: list[str] = field(default_factory=list)  # what the report should say beside the figures
    browser: BrowserFile | None = None  # tflite variants: the file LiteRT.js runs in the web app


def write_content_named(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write `data` as `stem.<hash>.suffix` under `folder`; returns the path relative to `folder`.

    Every file of an export except manifest.json and report.json is named by its content, so a reader who
    holds one version's manifest can only ever fetch that version's files (or a 404), never a mix.
    """
    relative = Path(f"{stem}.{hashlib.sha256(data).hexdigest()[:16]}{suffix}")
    (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    (folder / relative).write_bytes(data)
    return relative


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """An array as JSON: shape, dtype and base64 of its little-endian bytes."""
    little = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"))
    return {
        "shape": list(array.shape),
        "dtype": array.dtype.name,
        "data": base64.b64encode(little.tobytes()).decode("ascii"),
    }


def decode_array(obj: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(obj["data"])
    return np.frombuffer(raw, dtype=np.dtype(obj["dtype"]).newbyteorder("<")).reshape(obj["shape"])
