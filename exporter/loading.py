"""Load a model in safe mode: a Keras 3 `.keras`, a tf-keras `.h5`/`.keras`, or a SavedModel folder.

The model's config is read within bounds (`limits`: member sizes, JSON depth) and checked whole
(`safe_mode.scan_config`) before anything is deserialised, so a Lambda or a custom class, wherever it sits
in the config, is refused by name before any code from the file could run.
"""

from __future__ import annotations

import gc
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from exporter.errors import ModelLoadError, UnsupportedModelError
from exporter.limits import (
    MAX_CONFIG_BYTES,
    MAX_METADATA_BYTES,
    ContentError,
    check_members,
    parse_json_object,
    read_member,
)
from exporter.safe_mode import scan_config
from exporter.tflite_runtime import chunk_size

ModelKind = Literal["keras3", "tf_keras", "savedmodel"]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # batch dimension first, None where free
    dtype: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class LoadedModel:
    """The float reference model, whatever it was saved as."""

    kind: ModelKind
    path: Path
    keras_model: Any | None  # a keras.Model or tf_keras.Model; None for a plain SavedModel
    input: TensorInfo
    output: TensorInfo
    _call: Callable[[np.ndarray, int], np.ndarray]  # (inputs, batch size) -> outputs
    in_memory: bool = False  # the caller's own model object (the Python API), not read from a file

    def predict(self, x: np.ndarray) -> np.ndarray:
        # Batches of bounded size, as for the interpreter: activations grow with the batch.
        return np.asarray(self._call(x, chunk_size(x)), dtype=np.float32)

    def release(self) -> None:
        """Drop the loaded model once its reference outputs exist: the rest of the export works on the
        translated tf-keras model, and MobileNetV2's Keras 3 copy with its compiled graph is ~100 MB."""
        self.keras_model = None
        self._call = _released
        if self.kind == "keras3" and not self.in_memory:  # the caller's session is the caller's
            import keras

            keras.backend.clear_session()  # Keras 3's global state still holds the compiled predict graph
        gc.collect()


def _released(x: np.ndarray, batch_size: int) -> np.ndarray:
    raise RuntimeError("the source model was released after its reference outputs were computed")


def load_model(path: Path) -> LoadedModel:
    if not path.exists():
        raise ModelLoadError(f"no model at {path}; give a .keras file, a .h5 file or a SavedModel folder")
    if path.is_dir():
        from exporter.saved_model import load_saved_model  # imported here: it imports this module

        return load_saved_model(path)
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes); export the model again")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return _load_keras_file(path)
    if suffix in (".h5", ".hdf5"):
        return _load_h5(path)
    raise ModelLoadError(
        f"{path.name} is not a supported model file; give a .keras file, a .h5 file or a SavedModel folder"
    )


def load_model_object(model: Any) -> LoadedModel:
    """A Keras model already in memory (the Python API): Keras 3 or tf-keras. It is the caller's own, so
    there is no file to scan; `path` is only its name, for messages and the manifest."""
    kind: ModelKind | None = None
    for module, candidate in (("tf_keras", "tf_keras"), ("keras", "keras3")):
        library = sys.modules.get(module)
        if library is not None and isinstance(model, library.Model):
            kind = cast(ModelKind, candidate)
            break
    if kind is None:
        raise ModelLoadError(
            f"a {type(model).__name__} is not a Keras model; give a keras.Model (Keras 3 or tf-keras), "
            "or the path of a .keras file, a .h5 file or a SavedModel folder"
        )
    loaded = _from_keras(Path(model.name or "model"), kind, lambda: model)
    loaded.in_memory = True
    return loaded


def _load_keras_file(path: Path) -> LoadedModel:
    try:
        with zipfile.ZipFile(path) as archive:
            config = parse_json_object(read_member(archive, "config.json", MAX_CONFIG_BYTES), "config.json")
            metadata = (
                parse_json_object(read_member(archive, "metadata.json", MAX_METADATA_BYTES), "metadata.json")
                if "metadata.json" in archive.namelist()
                else {}
            )
            check_members(archive)  # the weights, before Keras inflates them
    except (zipfile.BadZipFile, KeyError, ContentError, OSError, EOFError) as error:
        raise ModelLoadError(
            f"{path} is not a readable .keras file ({_reason(error)}); save the model again with model.save()"
        ) from None
    if str(metadata.get("keras_version", "3")).startswith("2."):
        scan_config(config, "tf_keras")
        return _from_keras(path, "tf_keras", lambda: _tf_keras().models.load_model(path, compile=False))
    scan_config(config, "keras3")

    def load() -> Any:
        import keras

        return keras.saving.load_model(path, compile=False, safe_mode=True)

    return _from_keras(path, "keras3", load)


def _load_h5(path: Path) -> LoadedModel:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            raw = _h5_model_config(h5)
            version = str(h5.attrs.get("keras_version", "2"))
    except (OSError, TypeError) as error:  # TypeError: an attribute of a type h5py cannot read
        raise ModelLoadError(
            f"{path} is not a readable HDF5 file ({_reason(error)}); save it again"
        ) from None
    except ContentError as error:
        raise _unreadable_h5(path, error) from None
    if raw is None:
        raise ModelLoadError(
            f"{path} holds weights only, no model; save the whole model with model.save('model.h5')"
        )
    try:
        config = parse_json_object(raw, "its model_config")
    except ContentError as error:
        raise _unreadable_h5(path, error) from None
    if version.startswith("3."):
        scan_config(config, "keras3")

        def load3() -> Any:
            import keras

            return keras.saving.load_model(path, compile=False, safe_mode=True)

        return _from_keras(path, "keras3", load3)
    scan_config(config, "tf_keras")
    return _from_keras(path, "tf_keras", lambda: _tf_keras().models.load_model(path, compile=False))


def _unreadable_h5(path: Path, error: ContentError) -> ModelLoadError:
    return ModelLoadError(f"{path} is not a readable Keras .h5 file ({error}); save the model again")


def _h5_model_config(h5: Any) -> bytes | None:
    """The `model_config` attribute if it is one string; its shape and type are read before its data."""
    import h5py

    if "model_config" not in h5.attrs:
        return None
    attribute = h5.attrs.get_id("model_config")
    if attribute.shape != ():
        shape = "no data" if attribute.shape is None else f"an array of shape {attribute.shape}"
        raise ContentError(f"its model_config attribute holds {shape}, not one JSON string")
    if attribute.dtype.kind != "S" and h5py.check_string_dtype(attribute.dtype) is None:
        raise ContentError(f"its model_config attribute holds {attribute.dtype} data, not a JSON string")
    raw = h5.attrs["model_config"]  # a scalar string: its bytes are in the file, so bounded by its size
    if len(raw) > MAX_CONFIG_BYTES:
        raise ContentError(f"its model_config is over the {MAX_CONFIG_BYTES // 2**20} MiB limit for it")
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _from_keras(path: Path, kind: ModelKind, load: Callable[[], Any]) -> LoadedModel:
    try:
        model = load()
    except (ModelLoadError, UnsupportedModelError):
        raise
    except Exception as error:
        raise ModelLoadError(f"{path} could not be loaded ({_reason(error)}); save the model again") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"{path.name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; edgeship exports "
            "models with one input and one output"
        )

    import tensorflow as tf

    info = _tensor_info(model.inputs[0])
    # One graph traced for a free batch: 3x faster than eager calls for MobileNetV2, and unlike predict() no
    # data pipeline per call (validation streams its samples in chunks) and ~100 MB less memory.
    graph = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, *info.shape[1:]], tf.as_dtype(info.dtype))],
    )

    def call(x: np.ndarray, batch_size: int) -> np.ndarray:
        return np.concatenate(
            [np.asarray(graph(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )

    return LoadedModel(
        kind=kind,
        path=path,
        keras_model=model,
        input=info,
        output=_tensor_info(model.outputs[0]),
        _call=call,
    )


def _tensor_info(tensor: Any) -> TensorInfo:
    """Name (of the layer that makes the tensor), shape and dtype; the same for Keras 3 and tf-keras."""
    dtype = getattr(tensor.dtype, "name", None) or str(tensor.dtype)
    return TensorInfo(name=tensor._keras_history[0].name, shape=tuple(tensor.shape), dtype=dtype)


def _tf_keras() -> Any:
    import tf_keras

    return tf_keras


def _reason(error: BaseException) -> str:
    """The first line of an exception's message, short: enough to act on, never a traceback."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
