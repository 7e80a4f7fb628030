"""`--out` (and build-site's OUT) replaces only an empty folder or one edgeship wrote: the user's folders,
the model, its data, the current, home and root folders are refused with one line before any work starts,
and a refused or finished export leaves nothing beside the folder (no parents, no lock file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from models import write_data
from server_fixtures import write_export

EDGESHIP = [sys.executable, "-m", "edgeship"]
TAIL_EXPORT = "give a new or empty folder, or an earlier edgeship export"
TAIL_SITE = "give a new or empty folder, or an earlier edgeship site"


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """A tiny real .keras model, a real SavedModel (no Keras metadata) and data files."""
    root = tmp_path_factory.mktemp("safety")
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.save(root / "model.keras")
    model.export(root / "saved")
    (root / "data").mkdir()
    write_data(root / "data")
    return root


@pytest.fixture
def place(tmp_path: Path, assets: Path) -> Path:
    """A user's working folder: the model and data copied in, a home folder with a Documents folder."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "model.keras").write_bytes((assets / "model.keras").read_bytes())
    (work / "data" / "eval.npz").write_bytes((assets / "data" / "eval.npz").read_bytes())
    (work / "notes.txt").write_text("the user's own file")
    documents = tmp_path / "home" / "Documents"
    documents.mkdir(parents=True)
    (documents / "thesis.txt").write_text("irreplaceable")
    return work


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(cwd.parent / "home")}
    return subprocess.run([*EDGESHIP, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=240)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# (case, --out as typed in the folder `work`, the exact line after "OutputDirError: ")
REFUSED_OUT = [
    ("current-folder", ".", f"--out . is the current folder, which edgeship will not replace; {TAIL_EXPORT}"),
    (
        "home-folder",
        "{H}",
        f"--out {{H}} is your home folder, which edgeship will not replace; {TAIL_EXPORT}",
    ),
    (
        "documents",
        "{H}/Documents",
        f"--out {{H}}/Documents holds files edgeship did not write (no edgeship manifest.json); "
        f"it would be replaced whole, so {TAIL_EXPORT}",
    ),
    ("root", "/", f"--out / is the root folder, which edgeship will not replace; {TAIL_EXPORT}"),
    (
        "parent-of-current",
        "..",
        f"--out .. holds the current folder, which edgeship will not replace; {TAIL_EXPORT}",
    ),
    (
        "data-folder",
        "data",
        "--out data holds the --eval data ({W}/data/eval.npz), which replacing it would delete; "
        f"{TAIL_EXPORT}",
    ),
]


@pytest.mark.parametrize(("case", "out", "expected"), REFUSED_OUT, ids=[c[0] for c in REFUSED_OUT])
def test_export_refuses_folders_it_did_not_write(place, case, out, expected):
    home = place.parent / "home"
    before_work, before_home = snapshot(place), snapshot(home)
    siblings = sorted(p.name for p in place.parent.iterdir())
    out = out.replace("{H}", str(home))
    args = ["export", "model.keras", "--out", out, "--eval", "data/eval.npz"]
    if case == "parent-of-current":
        args = ["export", str(place / "model.keras"), "--out", out]
    result = run(args, place)

    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        "OutputDirError: " + expected.replace("{H}", str(home)).replace("{W}", str(place))
    ]
    assert "loading" not in result.stderr  # refused before the model is read
    assert snapshot(place) == before_work and snapshot(home) == before_home
    assert sorted(p.name for p in place.parent.iterdir()) == siblings  # no lock, no staging
    assert not Path("/..lock").exists()


def test_export_refuses_the_savedmodel_folder_it_reads(assets, tmp_path):
    saved = tmp_path / "saved"
    saved.mkdir()
    for item in (assets / "saved").rglob("*"):
        if item.is_file():
            (saved / item.relative_to(assets / "saved")).parent.mkdir(parents=True, exist_ok=True)
            (saved / item.relative_to(assets / "saved")).write_bytes(item.read_bytes())
    (tmp_path / "home").mkdir()
    before = snapshot(saved)
    result = run(["export", "saved", "--out", "saved"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out saved is the model, which edgeship will not replace; {TAIL_EXPORT}"
    ]
    assert snapshot(saved) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "saved"]


def test_export_refuses_the_folder_holding_the_model(place):
    project = place / "project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "m.keras").write_bytes((place / "model.keras").read_bytes())
    result = run(["export", "project/models/m.keras", "--out", "project"], place)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        f"OutputDirError: --out project holds the model ({place}/project/models/m.keras), "
        f"which replacing it would delete; {TAIL_EXPORT}"
    ]
    assert (project / "models" / "m.keras").is_file()


def test_an_empty_out_is_refused(place):
    result = run(["export", "model.keras", "--out", ""], place)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "edgeship export: error: argument --out: an empty path names no folder; give a folder path"
    )
    assert snapshot(place)["notes.txt"] == b"the user's own file"


def test_a_symlink_out_is_refused(place, tmp_path):
    (tmp_path / "real").mkdir()
    (place / "link").symlink_to(tmp_path / "real")
    result = run(["export", "model.keras", "--out", "link"], place)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "OutputDirError: --out link is a symbolic link; give the folder it points to, or a new folder"
    ]


def test_a_refused_model_creates_nothing(place):
    result = run(["export", "missing.keras", "--out", "deep/new/export"], place)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].startswith("ModelLoadError: no model at missing.keras")
    assert not (place / "deep").exists()
    assert not [p for p in place.iterdir() if p.name.startswith(".")]


def test_a_finished_export_leaves_nothing_beside_out(place):
    (place / "empty").mkdir()
    result = run(["export", "model.keras", "--out", "new/export", "--targets", "tflite"], place)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (place / "new").iterdir()] == ["export"]
    again = run(["export", "model.keras", "--out", "new/export", "--targets", "tflite"], place)
    assert again.returncode == 0, again.stderr  # an earlier export may be replaced
    assert [p.name for p in (place / "new").iterdir()] == ["export"]
    into_empty = run(["export", "model.keras", "--out", "empty", "--targets", "tflite"], place)
    assert into_empty.returncode == 0, into_empty.stderr
    assert (place / "empty" / "manifest.json").is_file()
    assert not [p for p in place.iterdir() if p.name.startswith(".")]


def test_an_export_with_no_variant_keeps_the_previous_one(assets, tmp_path):
    (tmp_path / "home").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    previous = {"format": "edgeship-export", "previous": True}
    (out / "manifest.json").write_text(json.dumps(previous))
    result = run(["export", str(assets / "saved"), "--out", "out", "--targets", "tfjs"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        "UnsupportedModelError: no variant can be built for --targets tfjs, so out was left as it was: "
        "tfjs-fp32, tfjs-fp16, tfjs-int8: the SavedModel has no Keras layers, which the TFJS layers format "
        "and QAT need; add tflite to --targets"
    ]
    assert json.loads((out / "manifest.json").read_text()) == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"]


# --- build-site ------------------------------------------------------------------------------------------


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    write_export(tmp_path / "work" / "pub" / "exports" / "demo")
    (tmp_path / "home").mkdir()
    return tmp_path / "work" / "pub" / "exports"


REFUSED_SITE = [
    ("current-folder", ".", f"OUT . is the current folder, which edgeship will not replace; {TAIL_SITE}"),
    (
        "the-exports",
        "pub/exports",
        f"OUT pub/exports is the exports folder, which edgeship will not replace; {TAIL_SITE}",
    ),
    (
        "holds-the-exports",
        "pub",
        "OUT pub holds the exports folder ({W}/pub/exports), which replacing it would delete; " + TAIL_SITE,
    ),
    (
        "inside-the-exports",
        "pub/exports/site",
        "OUT pub/exports/site is inside the exports folder ({W}/pub/exports); write it outside that folder",
    ),
    (
        "foreign",
        "mine",
        f"OUT mine holds files edgeship did not write (no edgeship edgeship-site.json); "
        f"it would be replaced whole, so {TAIL_SITE}",
    ),
    ("home", "{H}", f"OUT {{H}} is your home folder, which edgeship will not replace; {TAIL_SITE}"),
]


@pytest.mark.parametrize(("case", "out", "expected"), REFUSED_SITE, ids=[c[0] for c in REFUSED_SITE])
def test_build_site_refuses_folders_it_did_not_write(exports, case, out, expected):
    work, home = exports.parent.parent, exports.parent.parent.parent / "home"
    (work / "mine").mkdir()
    (work / "mine" / "index.html").write_text("my own page")
    before = snapshot(work.parent)
    out = out.replace("{H}", str(home)).replace("{W}", str(work))
    result = run(["build-site", "pub/exports", out], work)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        "OutputDirError: " + expected.replace("{H}", str(home)).replace("{W}", str(work))
    ]
    assert snapshot(work.parent) == before
    assert sorted(p.name for p in work.iterdir()) == ["mine", "pub"]
    assert sorted(p.name for p in (work / "pub").iterdir()) == ["exports"]


def test_build_site_replaces_its_own_site_and_an_empty_folder(exports):
    work = exports.parent.parent
    (work / "empty").mkdir()
    for out in ("site", "site", "empty"):
        result = run(["build-site", "pub/exports", out], work)
        assert result.returncode == 0, result.stderr
        assert json.loads((work / out / "edgeship-site.json").read_text())["format"] == "edgeship-site"
    assert sorted(p.name for p in work.iterdir()) == ["empty", "pub", "site"]


# --- serve --port ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_is_refused_and_nothing_listens(exports, port):
    process = subprocess.Popen(
        [*EDGESHIP, "serve", str(exports), "--port", port],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=exports.parent,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"--port {port} was accepted and the server kept running: {stdout.strip()}")
    assert process.returncode == 2
    assert "Serving" not in stdout
    assert stderr.strip().splitlines()[-1] == (
        f"edgeship serve: error: argument --port: {port} is not a port; "
        "give a number from 1 to 65535 (or 0 for any free port)"
    )
