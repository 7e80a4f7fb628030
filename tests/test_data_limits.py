"""Hostile data files: a zip bomb, a lying .npy header, a huge Fortran array or a pickle are refused from the
zip directory and the .npy headers, before any array is read, with one line, exit 2 and bounded memory."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from peak_rss import run_with_peak

PEAK_LIMIT = 1 << 30  # the refusals happen before TensorFlow is even imported; a bomb read whole is 2.5 GiB
BOMB_BYTES = 5 << 29  # 2.5 GiB of zeros: a 2.6 MB file once deflated


def _header(shape: tuple[int, ...], dtype: str, fortran: bool = False) -> bytes:
    """A version 1.0 .npy header, as numpy writes it, describing whatever the caller chooses."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.dtype(dtype).str, "fortran_order": fortran, "shape": shape}
    )
    return buffer.getvalue()


def _member(archive: zipfile.ZipFile, name: str, header: bytes, zeros: int, data: bytes = b"") -> None:
    """Write `name` as header, `data`, then `zeros` zero bytes, deflated, streamed (never held whole)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as stream:
        stream.write(header + data)
        block = bytes(1 << 24)
        while zeros > 0:
            stream.write(block[: min(zeros, len(block))])
            zeros -= len(block)


def _zip(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)


X = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)


def _x_member(archive: zipfile.ZipFile) -> None:
    _member(archive, "x.npy", _header(X.shape, "<f4"), 0, X.tobytes())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.save(root / "model.keras")
    with _zip(root / "y_bomb.npz") as archive:  # y's header is honest: 2.5 GiB of labels for 16 samples
        _x_member(archive)
        _member(archive, "y.npy", _header((BOMB_BYTES // 8,), "<i8"), BOMB_BYTES)
    with _zip(root / "y_wide.npz") as archive:  # one-hot-looking rows, 300 MiB in all
        _x_member(archive)
        _member(archive, "y.npy", _header((16, 300 << 15), "<i2"), 16 * (300 << 15) * 2)
    with _zip(root / "x_claims_huge.npz") as archive:  # header: 20 M samples (4.8 GiB); data: 16
        _member(archive, "x.npy", _header((20_000_000, 8, 8, 1), "<f4"), 0, X.tobytes())
    with _zip(root / "x_longer.npz") as archive:  # header: 16 samples; data: twice that
        _member(archive, "x.npy", _header(X.shape, "<f4"), 0, X.tobytes() * 2)
    with _zip(root / "x_fortran.npz") as archive:  # 300,000 samples in Fortran order: 73 MiB
        _member(archive, "x.npy", _header((300_000, 8, 8, 1), "<f4", fortran=True), 300_000 * 256)
    marker = root / "PICKLE_RAN"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # protocol 0: os.system("touch ...")
    with _zip(root / "y_pickle.npz") as archive:
        _x_member(archive)
        _member(archive, "y.npy", _header((16,), "|O"), 0, payload)
    return root


def run_measured(args: list[str], cwd: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak resident bytes) of one `edgeship` process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(cwd)}
    result, peak = run_with_peak(args, cwd / "peak-kib", env, cwd=cwd)
    return result.returncode, result.stderr, peak


# (case, data file, option, the exact message after "DataError: --OPTION FILE: ")
CASES = [
    (
        "y-bomb",
        "y_bomb.npz",
        "--eval",
        "y has shape (335544320,); expected (16,) class indices, one per sample",
    ),
    (
        "y-too-wide",
        "y_wide.npz",
        "--eval",
        "y takes 300 MiB, more than the 256 MiB edgeship reads for labels; give one class index per sample",
    ),
    (
        "x-header-claims-huge",
        "x_claims_huge.npz",
        "--calibration",
        "x takes 4.8 GiB (20000000 samples), more than the 4 GiB edgeship reads; give a smaller sample "
        "of the data (a few thousand samples are plenty for calibration and accuracy)",
    ),
    (
        "x-longer-than-header",
        "x_longer.npz",
        "--calibration",
        "x.npy holds 8192 bytes of data but its header describes shape (16, 8, 8, 1) float32 "
        "(4096 bytes); write the file again with numpy.savez",
    ),
    (
        "x-fortran",
        "x_fortran.npz",
        "--calibration",
        "x is stored in Fortran order (73 MiB), which edgeship cannot read sample by sample; save it with "
        "numpy.savez(..., x=numpy.ascontiguousarray(x))",
    ),
    (
        "y-pickle",
        "y_pickle.npz",
        "--eval",
        "not a readable .npz file (Object arrays cannot be loaded: y holds Python objects, which edgeship "
        "never unpickles); save numeric arrays with numpy.savez",
    ),
]


@pytest.mark.parametrize(("case", "name", "option", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_data_is_refused_from_its_headers(files, tmp_path, case, name, option, expected):
    data = files / name
    code, stderr, peak = run_measured(
        ["export", str(files / "model.keras"), option, str(data), "--out", "out"], tmp_path
    )
    lines = [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]
    assert code == 2, stderr
    assert lines == [f"DataError: {option} {data}: {expected}"]
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB: an array was read whole"
    assert "loading" not in stderr  # refused before the model (and TensorFlow) is loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert not (files / "PICKLE_RAN").exists()


def test_the_y_bomb_is_a_small_file(files):
    assert (files / "y_bomb.npz").stat().st_size < 4_000_000
