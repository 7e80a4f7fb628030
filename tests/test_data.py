"""Datasets are read from their .npz chunk by chunk: same values as numpy.load, never the whole array at once."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exporter.data import ArrayRows, NpzRows, load_dataset
from exporter.errors import DataError
from exporter.loading import TensorInfo
from exporter.tflite_runtime import CHUNK_BYTES

IMAGE = TensorInfo("input", (None, 32, 32, 3), "float32")


def _images(count: int, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(0).random((count, 32, 32, 3)).astype(dtype)


@pytest.mark.parametrize(
    "save, layout, streamed",
    [
        (np.savez, "C", True),
        (np.savez_compressed, "C", True),
        (np.savez, "F", False),  # Fortran order cannot be read row by row: loaded whole instead
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_rows_read_back_what_numpy_wrote(
    tmp_path: Path, save, layout: str, streamed: bool, dtype: str
) -> None:
    x = _images(300, dtype)
    x = np.asfortranarray(x) if layout == "F" else x
    save(tmp_path / "data.npz", x=x, y=np.arange(300) % 10)

    data = load_dataset(tmp_path / "data.npz", "eval", IMAGE, 10, need_labels=True)

    assert isinstance(data.x, NpzRows if streamed else ArrayRows)
    assert data.x.shape == x.shape
    chunks = list(data.x.chunks())
    assert len(chunks) > 1 and all(c.dtype == np.float32 for c in chunks)
    assert max(len(c) for c in chunks) * 32 * 32 * 3 * 4 <= CHUNK_BYTES
    np.testing.assert_array_equal(np.concatenate(chunks), x.astype(np.float32))
    np.testing.assert_array_equal(data.x.head(7), x[:7].astype(np.float32))
    np.testing.assert_array_equal(data.x.limited(20).load(), x[:20].astype(np.float32))
    assert data.x_range == (float(x.astype(np.float32).min()), float(x.astype(np.float32).max()))
    np.testing.assert_array_equal(data.y, np.arange(300) % 10)


def test_checking_a_large_dataset_never_holds_it_whole(tmp_path: Path) -> None:
    x = _images(2000)
    np.savez(tmp_path / "big.npz", x=x)
    size = x.nbytes  # 24.6 MB; a chunk is at most 4 MiB, read into bytes then copied to float32
    del x
    tracemalloc.start()
    try:
        data = load_dataset(tmp_path / "big.npz", "calibration", IMAGE, None, need_labels=False)
        outputs = data.x.map(lambda chunk: chunk.mean(axis=(1, 2, 3)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outputs.shape == (2000,)
    assert peak < size / 2, f"peak {peak} bytes for a {size}-byte array: it was read whole"


def test_a_member_cut_short_is_named(tmp_path: Path) -> None:
    x = _images(100)
    np.savez(tmp_path / "data.npz", x=x)
    # Rewrite the archive with a member whose header promises 100 samples but whose data holds 40.
    with zipfile.ZipFile(tmp_path / "data.npz") as archive:
        member = archive.read("x.npy")
    cut = member[: len(member) - 60 * 32 * 32 * 3 * 4]
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as archive:
        archive.writestr("x.npy", cut)

    with pytest.raises(DataError) as error:
        load_dataset(tmp_path / "cut.npz", "calibration", IMAGE, None, need_labels=False)

    assert str(error.value) == (
        f"{tmp_path / 'cut.npz'}: x breaks off after 40 of 100 samples (the file is cut short); "
        "write the file again"
    )


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"not a readable \.npz file \(Object arrays cannot be loaded"):
        load_dataset(tmp_path / "objects.npz", "calibration", IMAGE, None, need_labels=False)
