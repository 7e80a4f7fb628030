"""A killed export never damages the previous one; two exports into one folder never mix."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from models import tf_keras_sequential, write_data

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    data = write_data(root)
    model = tf_keras_sequential(root / "model.h5")
    args = [
        str(model),
        "--eval",
        str(data["eval"]),
        "--calibration",
        str(data["calibration"]),
        "--targets",
        "tflite,tfjs",
    ]
    out = root / "out"
    first = _export(args, out)
    assert first.returncode == 0, first.stderr
    return {"root": root, "args": args, "out": out, "fingerprint": _fingerprint(out)}


def _export(args: list[str], out: Path) -> subprocess.CompletedProcess:
    """One complete `edgeship export` run in its own process."""
    command = [sys.executable, "-m", "edgeship", "export", *args, "--out", str(out)]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)


def _fingerprint(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _assert_intact_and_loadable(out: Path, fingerprint: dict[str, str]) -> None:
    assert _fingerprint(out) == fingerprint
    manifest = json.loads((out / "manifest.json").read_text())
    for variant in manifest["variants"].values():
        for file in variant["files"]:
            assert hashlib.sha256((out / file["path"]).read_bytes()).hexdigest() == file["sha256"]


def _start(setup, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeship", "export", *setup["args"], "--out", str(out)],
        env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip


# Progress lines after which the export is killed: while loading, mid-conversion, while writing TFJS.
KILL_POINTS = ["loading", "[2/", "[5/", "tfjs-int8: building"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_leaves_the_previous_export_intact_and_the_next_one_cleans_up(setup, point):
    process = _start(setup, setup["out"])
    assert process.stderr is not None
    for line in process.stderr:
        if point in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    _assert_intact_and_loadable(setup["out"], setup["fingerprint"])
    leftovers = [p.name for p in setup["root"].iterdir() if ".staging-" in p.name]
    if point != "loading":
        assert leftovers, "the kill came after staging began, so a leftover is expected"
    # The next export removes what the killed one left and publishes a complete export.
    again = _export(setup["args"], setup["out"])
    assert again.returncode == 0, again.stderr
    assert not [p for p in setup["root"].iterdir() if ".staging-" in p.name]
    setup["fingerprint"] = _fingerprint(setup["out"])
    _assert_intact_and_loadable(setup["out"], setup["fingerprint"])


def test_two_exports_into_one_folder_one_wins_the_other_fails_clearly(setup):
    first = _start(setup, setup["out"])
    assert first.stderr is not None
    next(line for line in first.stderr if "loading" in line)  # the first holds the lock now
    time.sleep(0.5)
    second = _export(setup["args"], setup["out"])
    first.stderr.read()
    assert first.wait(timeout=300) == 0
    assert second.returncode == 2
    assert (
        second.stderr.strip().splitlines()[-1]
        == f"OutputDirError: another export into {setup['out']} is running; wait for it to finish, or choose another --out"
    )
    setup["fingerprint"] = _fingerprint(setup["out"])
    _assert_intact_and_loadable(setup["out"], setup["fingerprint"])
