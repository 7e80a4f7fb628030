"""Read calibration, evaluation and training data (`.npz`) and check that it fits the model.

Inputs are not held in memory: `Dataset.x` is a `Rows` that reads the file chunk by chunk whenever the export
needs the samples (checking them, calibrating, validating each variant). For MobileNetV2 with 100 samples
each array is 60 MB, and holding calibration plus eval data put the export's peak above the official tools'.
Labels are small and loaded once.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from exporter.errors import DataError
from exporter.loading import TensorInfo
from exporter.tflite_runtime import rows_per_chunk

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class Rows:
    """Samples along the first axis, read as float32 in chunks of bounded size."""

    shape: tuple[int, ...]
    dtype: np.dtype  # as stored; every chunk comes out as float32

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def chunk(self) -> int:
        """Rows per chunk: a few megabytes (6 MobileNetV2 images, 256 digits)."""
        return rows_per_chunk(self.shape[1:], np.dtype(np.float32).itemsize)

    def chunks(self, size: int | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def head(self, count: int) -> np.ndarray:
        """The first `count` rows (or all of them) in memory."""
        rows = self.limited(count)
        return np.concatenate(list(rows.chunks())) if len(rows) else np.zeros(rows.shape, np.float32)

    def map(self, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`function` (a model's predict) applied chunk by chunk, the results joined."""
        return np.concatenate([function(chunk) for chunk in self.chunks()])

    def load(self) -> np.ndarray:
        return self.head(len(self))

    def limited(self, count: int) -> Rows:
        raise NotImplementedError


class ArrayRows(Rows):
    def __init__(self, array: np.ndarray):
        self._array = array
        self.shape, self.dtype = tuple(array.shape), array.dtype

    def chunks(self, size: int | None = None) -> Iterator[np.ndarray]:
        step = size or self.chunk
        for start in range(0, len(self), step):
            yield self._array[start : start + step].astype(np.float32, copy=False)

    def limited(self, count: int) -> Rows:
        return ArrayRows(self._array[:count])


class NpzRows(Rows):
    """Array `member` of an .npz (stored or deflated), streamed from the file on every pass."""

    def __init__(self, path: Path, member: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.member, self.shape, self.dtype = path, member, shape, dtype

    def chunks(self, size: int | None = None) -> Iterator[np.ndarray]:
        step = size or self.chunk
        row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
            _read_header(stream)
            for start in range(0, len(self), step):
                count, reason = min(step, len(self) - start), "the file is cut short"
                try:
                    data = stream.read(count * row_bytes)
                except (OSError, EOFError, zipfile.BadZipFile) as error:
                    data, reason = b"", str(error)
                if len(data) != count * row_bytes:
                    raise DataError(
                        f"{self.path}: x breaks off after {start + len(data) // row_bytes} of {len(self)} "
                        f"samples ({reason}); write the file again"
                    )
                rows = np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))
                yield rows.astype(np.float32)

    def limited(self, count: int) -> Rows:
        return NpzRows(self.path, self.member, (min(count, len(self)), *self.shape[1:]), self.dtype)


def _read_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype] | None:
    """(shape, fortran_order, dtype) of the .npy at the stream's start; None for other header versions."""
    version = np.lib.format.read_magic(stream)
    reader = _HEADER_READERS.get(version)
    return reader(stream) if reader else None


@dataclass(frozen=True)
class Dataset:
    role: str  # "calibration", "eval" or "train": the option it came from, for messages
    x: Rows  # shaped like the model input; read as float32
    y: np.ndarray | None  # int64 class indices, when labelled
    x_range: tuple[float, float]  # smallest and largest input value


def load_dataset(
    path: Path, role: str, model_input: TensorInfo, num_classes: int | None, need_labels: bool
) -> Dataset:
    """Open `path` (arrays x[, y]) for --ROLE and check shape, dtype, finiteness and label range."""
    where = f"--{role} {path}"
    if not path.is_file():
        raise DataError(
            f"{where}: no such file; give an .npz with array x" + (" and y" if need_labels else "")
        )
    try:
        x, y, names = _open(path)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as error:
        raise DataError(f"{where}: not a readable .npz file ({error}); write it with numpy.savez") from None
    if x is None:
        raise DataError(f"{where}: no array named x (found: {', '.join(names) or 'none'})")
    x_range = _check_inputs(where, x, model_input)
    if y is None:
        if need_labels:
            raise DataError(f"{where}: no array named y; --{role} needs labels y beside the inputs x")
        return Dataset(role, x, None, x_range)
    return Dataset(role, x, _check_labels(where, y, len(x), num_classes), x_range)


def _open(path: Path) -> tuple[Rows | None, np.ndarray | None, list[str]]:
    """x as rows streamed from the file when its layout allows (C order, plain dtype), else in memory; y;
    the names of the arrays in the file."""
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        header = None
        if "x.npy" in members:
            with archive.open("x.npy") as stream:
                header = _read_header(stream)
    x: Rows | None = None
    with np.load(path, allow_pickle=False) as npz:
        if header is not None and not header[1] and not header[2].hasobject:
            x = NpzRows(path, "x.npy", tuple(header[0]), header[2])
        elif "x" in npz.files:
            x = ArrayRows(npz["x"])
        y = npz["y"] if "y" in npz.files else None
        return x, y, list(npz.files)


def _check_inputs(where: str, x: Rows, model_input: TensorInfo) -> tuple[float, float]:
    expected = model_input.shape[1:]
    if len(x.shape) != len(model_input.shape) or any(
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
    low, high = np.inf, -np.inf
    for chunk in x.chunks():
        if not np.all(np.isfinite(chunk)):
            raise DataError(f"{where}: x contains NaN or Inf values; clean the data first")
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    return low, high


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
