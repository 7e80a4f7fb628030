"""Read calibration, evaluation and training data (`.npz`) and check that it fits the model."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.errors import DataError
from exporter.loading import TensorInfo


@dataclass(frozen=True)
class Dataset:
    role: str  # "calibration", "eval" or "train": the option it came from, for messages
    x: np.ndarray  # float32, shaped like the model input
    y: np.ndarray | None  # int64 class indices, when labelled


def load_dataset(
    path: Path, role: str, model_input: TensorInfo, num_classes: int | None, need_labels: bool
) -> Dataset:
    """Load `path` (arrays x[, y]) for --ROLE and check shape, dtype, finiteness and label range."""
    where = f"--{role} {path}"
    if not path.is_file():
        raise DataError(
            f"{where}: no such file; give an .npz with array x" + (" and y" if need_labels else "")
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{where}: not a readable .npz file ({error}); write it with numpy.savez") from None
    if "x" not in arrays:
        raise DataError(f"{where}: no array named x (found: {', '.join(arrays) or 'none'})")
    x = _check_inputs(where, arrays["x"], model_input)
    y = arrays.get("y")
    if y is None:
        if need_labels:
            raise DataError(f"{where}: no array named y; --{role} needs labels y beside the inputs x")
        return Dataset(role, x, None)
    return Dataset(role, x, _check_labels(where, y, len(x), num_classes))


def _check_inputs(where: str, x: np.ndarray, model_input: TensorInfo) -> np.ndarray:
    expected = model_input.shape[1:]
    if x.ndim != len(model_input.shape) or any(
        e is not None and e != s for e, s in zip(expected, x.shape[1:], strict=True)
    ):
        shape = "(n, " + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise DataError(f"{where}: x has shape {x.shape} but the model takes inputs of shape {shape}")
    if len(x) == 0:
        raise DataError(f"{where}: x holds no samples")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(
            f"{where}: x has dtype {x.dtype} but the model takes {model_input.dtype} inputs; "
            "convert and scale it as in training (for example x.astype('float32') / 255)"
        )
    if not np.all(np.isfinite(x)):
        raise DataError(f"{where}: x contains NaN or Inf values; clean the data first")
    return x.astype(np.float32, copy=False)  # already float32: no second copy of a large dataset


def _check_labels(where: str, y: np.ndarray, count: int, num_classes: int | None) -> np.ndarray:
    if y.ndim == 2 and num_classes is not None and y.shape[1] == num_classes:
        y = np.argmax(y, axis=1)  # one-hot labels
    if y.ndim != 1 or len(y) != count:
        raise DataError(f"{where}: y has shape {y.shape}; expected ({count},) class indices, one per sample")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{where}: y must hold whole class indices; found NaN, Inf or fractions")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: y has dtype {y.dtype}; expected integer class indices")
    labels = y.astype(np.int64)
    if num_classes is not None and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{where}: labels range over {labels.min()}..{labels.max()} but the model has "
            f"{num_classes} classes (0..{num_classes - 1})"
        )
    return labels
