"""Read calibration, evaluation and training data (`.npz`) and check that it fits the model.

Inputs are not held in memory: `Dataset.x` is a `Rows` that reads the file chunk by chunk whenever the export
needs the samples (checking them, calibrating, validating each variant). For MobileNetV2 with 100 samples
each array is 60 MB, and holding calibration plus eval data put the export's peak above the official tools'.
Labels are small and loaded once.

A data file is hostile until checked: a 2.6 MB .npz can inflate to gigabytes, and a .npy header can promise
any shape. So `inspect_dataset` first checks, from the zip directory and the headers alone and before the
model is loaded, that every array is within bounds, holds exactly the bytes its header describes, and holds
no Python objects (never unpickled); `fit_dataset` then checks the arrays against the model.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from exporter.errors import DataError, parameter
from exporter.loading import TensorInfo
from exporter.tflite_runtime import rows_per_chunk

# Bounds no real dataset for an edge model reaches, checked from the headers before anything is read. x is
# streamed, so its bound is about time; y and a Fortran-ordered x are read whole, so theirs are about memory.
X_MAX_BYTES = 4 << 30
Y_MAX_BYTES = 256 << 20  # one int64 label for 33 M samples, or one-hot float32 rows of 1000 classes for 67 k
FORTRAN_MAX_BYTES = 64 << 20  # a Fortran-ordered x cannot be streamed by samples; small ones are read whole

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
                except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
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
class NpyMember:
    """One array of an .npz as its zip directory and .npy header describe it; nothing of it read yet."""

    member: str  # the zip member's name: "x.npy" as numpy.savez writes it
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    offset: int  # where the values start in the member
    stored: int  # bytes of values in the member, from the zip directory (reading stops there)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def described(self) -> str:
        return f"shape {self.shape} {self.dtype}"


@dataclass(frozen=True)
class DataFile:
    """A data file whose layout was checked (sizes, dtypes, headers) before the model is even loaded."""

    path: Path
    role: str
    x: NpyMember
    y: NpyMember | None
    need_labels: bool

    @property
    def where(self) -> str:
        return f"{parameter(self.role)} {self.path}"


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
    return fit_dataset(inspect_dataset(path, role, need_labels), model_input, num_classes)


def inspect_dataset(path: Path, role: str, need_labels: bool) -> DataFile:
    """Check what the zip directory and the .npy headers promise, reading no array: each array fits in
    the bounds, says as many bytes as the file holds, and holds no Python objects."""
    where = f"{parameter(role)} {path}"
    if not path.is_file():
        raise DataError(
            f"{where}: no such file; give an .npz with array x" + (" and y" if need_labels else "")
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = _arrays(archive)
            x = _member(archive, members["x"]) if "x" in members else None
            y = _member(archive, members["y"]) if "y" in members else None
    except _UNREADABLE as error:
        raise DataError(f"{where}: not a readable .npz file ({error}); write it with numpy.savez") from None
    if x is None:
        raise DataError(f"{where}: no array named x (found: {', '.join(members) or 'none'})")
    _check_x_layout(where, path, x)
    if y is not None:
        _check_y_layout(where, y, x.shape[0] if x.shape else 1)
    return DataFile(path, role, x, y, need_labels)


def fit_dataset(file: DataFile, model_input: TensorInfo, num_classes: int | None) -> Dataset:
    """The data of a checked file as the model takes it: x streamed, y read (it is bounded), both checked."""
    where, x = file.where, file.x
    rows: Rows = (
        ArrayRows(_read_whole(file, x)) if x.fortran else NpzRows(file.path, x.member, x.shape, x.dtype)
    )
    x_range = _check_inputs(where, rows, model_input)
    if file.y is None:
        if file.need_labels:  # said after the checks of x, which may well be what is wrong with the file
            raise DataError(
                f"{where}: no array named y; {parameter(file.role)} needs labels y beside the inputs x"
            )
        return Dataset(file.role, rows, None, x_range)
    shape = file.y.shape
    if len(shape) == 2 and (num_classes is None or shape[1] != num_classes):
        raise DataError(
            f"{where}: y has shape {shape}; expected ({len(rows)},) class indices, one per sample"
        )
    y = _read_whole(file, file.y)
    return Dataset(file.role, rows, _check_labels(where, y, len(rows), num_classes), x_range)


def array_dataset(
    arrays: Any, role: str, model_input: TensorInfo, num_classes: int | None, need_labels: bool
) -> Dataset:
    """Data given as arrays (the Python API: `x`, or `(x, y)`), checked as a file's arrays are."""
    x, y = (arrays[0], arrays[1]) if isinstance(arrays, tuple | list) and len(arrays) == 2 else (arrays, None)
    where = f"{parameter(role)} array"
    x, y = _as_array(where, "x", x), None if y is None else _as_array(where, "y", y)
    rows = ArrayRows(x)
    x_range = _check_inputs(where, rows, model_input)
    if y is None:
        if need_labels:
            raise DataError(f"{where}: no labels; give {parameter(role)}=(x, y) with class indices y")
        return Dataset(role, rows, None, x_range)
    return Dataset(role, rows, _check_labels(where, y, len(rows), num_classes), x_range)


def _as_array(where: str, name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.hasobject or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise DataError(f"{where}: {name} holds {array.dtype} values; give a numeric numpy array")
    return array


# What a damaged or foreign file raises while its directory and headers are read.
_UNREADABLE = (
    ValueError,
    OSError,
    zipfile.BadZipFile,
    EOFError,
    KeyError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
)


def _arrays(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Array name -> zip member, named as numpy.load names them ("x.npy" is x); as in zipfile, a later
    member of the same name wins."""
    arrays: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if info.filename.endswith(".npy") or name not in arrays:
            arrays[name] = info
    return arrays


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NpyMember:
    with archive.open(info) as stream:
        header = _read_header(stream)
        if header is None:
            raise ValueError(f"{info.filename} uses a .npy format version edgeship does not read")
        shape, fortran, dtype = header
        offset = stream.tell()
    return NpyMember(info.filename, tuple(shape), bool(fortran), dtype, offset, info.file_size - offset)


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def _check_objects(where: str, name: str, array: NpyMember) -> None:
    if array.dtype.hasobject:  # loading one means unpickling it: code from the file would run
        raise DataError(
            f"{where}: not a readable .npz file (Object arrays cannot be loaded: {name} holds Python "
            "objects, which edgeship never unpickles); save numeric arrays with numpy.savez"
        )


def _check_stored(where: str, array: NpyMember) -> None:
    if array.stored != array.nbytes:
        raise DataError(
            f"{where}: {array.member} holds {array.stored} bytes of data but its header describes "
            f"{array.described} ({array.nbytes} bytes); write the file again with numpy.savez"
        )


def _check_x_layout(where: str, path: Path, x: NpyMember) -> None:
    _check_objects(where, "x", x)
    if x.nbytes > X_MAX_BYTES:
        raise DataError(
            f"{where}: x takes {_size(x.nbytes)} ({x.shape[0]} samples), more than the "
            f"{X_MAX_BYTES >> 30} GiB edgeship reads; give a smaller sample of the data "
            "(a few thousand samples are plenty for calibration and accuracy)"
        )
    if x.fortran and x.nbytes > FORTRAN_MAX_BYTES:
        raise DataError(
            f"{where}: x is stored in Fortran order ({_size(x.nbytes)}), which edgeship cannot read sample "
            "by sample; save it with numpy.savez(..., x=numpy.ascontiguousarray(x))"
        )
    if x.stored < x.nbytes and x.shape:
        row_bytes = max(1, math.prod(x.shape[1:]) * x.dtype.itemsize)
        raise DataError(
            f"{path}: x breaks off after {max(0, x.stored) // row_bytes} of {x.shape[0]} samples "
            "(the file is cut short); write the file again"
        )
    _check_stored(where, x)


def _check_y_layout(where: str, y: NpyMember, count: int) -> None:
    _check_objects(where, "y", y)
    if len(y.shape) not in (1, 2) or y.shape[0] != count:
        raise DataError(f"{where}: y has shape {y.shape}; expected ({count},) class indices, one per sample")
    if y.nbytes > Y_MAX_BYTES:
        raise DataError(
            f"{where}: y takes {_size(y.nbytes)}, more than the {Y_MAX_BYTES >> 20} MiB edgeship reads for "
            "labels; give one class index per sample"
        )
    _check_stored(where, y)


def _read_whole(file: DataFile, array: NpyMember) -> np.ndarray:
    """An array whose size was checked, read at once; exactly the bytes its header described then."""
    try:
        with zipfile.ZipFile(file.path) as archive:
            info = _arrays(archive)[array.member.removesuffix(".npy")]
            now = _member(archive, info)
            if now != array:
                raise ValueError(f"{array.member} changed while edgeship was reading it")
            with archive.open(info) as stream:
                stream.seek(array.offset)
                data = stream.read(array.nbytes)
    except _UNREADABLE as error:
        raise DataError(
            f"{file.where}: not a readable .npz file ({error}); write it with numpy.savez"
        ) from None
    if len(data) != array.nbytes:
        raise DataError(f"{file.where}: {array.member} is cut short; write the file again")
    return np.frombuffer(data, dtype=array.dtype).reshape(array.shape, order="F" if array.fortran else "C")


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
