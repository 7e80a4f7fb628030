"""What an export folder holds is not trusted: symlinks never lead the server or `edgeship build-site` out of
it, and a malformed manifest costs only its own export (skipped with one warning line), never a 500.

The symlink tests run the real CLI and look for a marker (the secret's bytes) anywhere under the site; the
server is asked the same questions, so that the site and the server publish the same files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from server_fixtures import write_export, write_static
from test_server import make_app

from webapp.site import STATIC_DIR, build_site

MARKER = b"edgeship-trust-marker-5b1f0c"
SECRET = json.dumps({"secret": MARKER.decode()}).encode()  # valid JSON: as a report, it would be parsed
OUTSIDE = "it is a symlink that leads outside the export folder; put the file itself in the export"
app_built = pytest.mark.skipif(
    not (STATIC_DIR / "sw.js").is_file(), reason="the web app is not built (run make setup)"
)


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def shard_of(folder: Path) -> str:
    return manifest_of(folder)["variants"]["tfjs-fp32"]["files"][1]["path"]


def tflite_of(folder: Path) -> str:
    return manifest_of(folder)["variants"]["tflite-fp32"]["entry"]


def link(path: Path, target: Path) -> None:
    path.unlink()
    path.symlink_to(target)


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    write_export(root / "demo")
    write_export(root / "good", seed=b"good")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.json").write_bytes(SECRET)
    return folder


def build_site_cli(exports_dir: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", "build-site", str(exports_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def files_holding_marker(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and MARKER in p.read_bytes()]


# --- symlinks: each setup returns the export's files it makes unpublishable (as "<id>/<relative>") -------


def shard_to_secret(root: Path, outside: Path) -> list[str]:
    link(root / "demo" / shard_of(root / "demo"), outside / "secret.json")
    return [f"demo/{shard_of(root / 'demo')}"]


def report_to_secret(root: Path, outside: Path) -> list[str]:
    link(root / "demo/report.json", outside / "secret.json")
    return ["demo/report.json"]


def eval_to_secret(root: Path, outside: Path) -> list[str]:
    link(root / "demo/eval.json", outside / "secret.json")
    return ["demo/eval.json"]


def tflite_folder_outside(root: Path, outside: Path) -> list[str]:
    # The folder holds files of the names the manifest lists, so following the link would copy them.
    shutil.move(root / "demo/tflite", outside / "tflite")
    for name in ("tflite/fp32.parity.json", tflite_of(root / "demo")):
        (outside / name).write_bytes(SECRET)
    (root / "demo/tflite").symlink_to(outside / "tflite", target_is_directory=True)
    return [f"demo/{tflite_of(root / 'demo')}", "demo/tflite/fp32.parity.json"]


def loop_in_tfjs(root: Path, outside: Path) -> list[str]:
    link(root / "demo" / shard_of(root / "demo"), root / "demo" / shard_of(root / "demo"))
    return [f"demo/{shard_of(root / 'demo')}"]


LEAKS: dict[str, Callable[[Path, Path], list[str]]] = {
    "shard": shard_to_secret,
    "report": report_to_secret,
    "eval": eval_to_secret,
    "tflite-folder": tflite_folder_outside,
    "loop": loop_in_tfjs,
}
REASONS = {"loop": "it is a symlink that cannot be resolved (a loop); put the file itself in the export"}


@app_built
@pytest.mark.parametrize("leak", LEAKS)
def test_build_site_never_follows_a_symlink_out_of_the_export(exports_dir, outside, tmp_path, leak):
    left_out = LEAKS[leak](exports_dir, outside)
    result = build_site_cli(exports_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert files_holding_marker(tmp_path / "site") == []
    warnings = [line for line in result.stderr.splitlines() if line.startswith("leaving out")]
    assert warnings == [f"leaving out {name}: {REASONS.get(leak, OUTSIDE)}" for name in left_out]
    for name in left_out:
        assert not (tmp_path / "site/models" / name).exists()
    # The precache list holds neither the left-out file nor the hash of the secret's bytes.
    sw = (tmp_path / "site/sw.js").read_text()
    assert hashlib.sha256(SECRET).hexdigest() not in sw
    assert all(f"/models/{name}" not in sw for name in left_out)
    assert (tmp_path / "site/models/good" / shard_of(exports_dir / "good")).is_file()


@pytest.mark.parametrize("leak", LEAKS)
def test_the_server_publishes_what_the_site_does(exports_dir, outside, tmp_path, leak):
    LEAKS[leak](exports_dir, outside)
    static = write_static(tmp_path / "static")
    build_site(exports_dir, tmp_path / "site", static_dir=static)
    client = make_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": static}).test_client()
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and MARKER not in sw.data
    assert hashlib.sha256(SECRET).hexdigest().encode() not in sw.data
    assert sw.data == (tmp_path / "site/sw.js").read_bytes()
    api = client.get("/api/models")
    assert api.status_code == 200 and MARKER not in api.data
    assert api.get_json() == json.loads((tmp_path / "site/api/models").read_text())
    for export in ("demo", "good"):
        manifest = manifest_of(exports_dir / export)
        listed = {"manifest.json", "report.json", manifest["eval"]}
        for variant in manifest["variants"].values():
            listed |= {f["path"] for f in variant["files"]} | {variant["parity"]}
        for relative in sorted(listed):
            copied = tmp_path / "site/models" / export / relative
            response = client.get(f"/models/{export}/{relative}")
            assert response.status_code in (200, 404) and MARKER not in response.data, relative
            assert (response.status_code == 200) == copied.is_file(), relative


def test_a_symlink_inside_the_export_is_followed_when_it_stays_in_what_is_served(exports_dir, tmp_path):
    demo = exports_dir / "demo"
    shard = shard_of(demo)
    shutil.move(demo / shard, demo / "tflite/shared.bin")
    (demo / shard).symlink_to(demo / "tflite/shared.bin")
    link(demo / "eval.json", demo / "source/model.keras")  # inside, but not a file browsers may fetch
    static = write_static(tmp_path / "static")
    build_site(exports_dir, tmp_path / "site", static_dir=static)
    client = make_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": static}).test_client()
    copied = tmp_path / "site/models/demo" / shard
    assert not copied.is_symlink() and copied.read_bytes() == (demo / "tflite/shared.bin").read_bytes()
    assert client.get(f"/models/demo/{shard}").data == copied.read_bytes()
    assert not (tmp_path / "site/models/demo/eval.json").exists()
    assert client.get("/models/demo/eval.json").status_code == 404


def test_a_manifest_linked_from_outside_makes_no_export(exports_dir, outside, tmp_path, caplog):
    write_export(outside / "elsewhere", seed=MARKER)
    link(exports_dir / "demo/manifest.json", outside / "elsewhere/manifest.json")
    static = write_static(tmp_path / "static")
    site = build_site(exports_dir, tmp_path / "site", static_dir=static)
    assert site.exports == ["good"] and files_holding_marker(tmp_path / "site") == []
    assert f"skipping export 'demo': its manifest.json: {OUTSIDE}" in caplog.messages
    client = make_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": static}).test_client()
    assert [m["id"] for m in client.get("/api/models").get_json()["models"]] == ["good"]


# --- a symlinked export folder: followed only when it stays inside the folder being served --------------


@app_built
def test_an_export_folder_linked_from_outside_is_skipped_by_site_and_server(exports_dir, outside, tmp_path):
    write_export(outside / "leak", seed=MARKER)
    (exports_dir / "leak").symlink_to(outside / "leak", target_is_directory=True)
    (exports_dir / "alias").symlink_to(exports_dir / "good", target_is_directory=True)  # stays inside
    result = build_site_cli(exports_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert files_holding_marker(tmp_path / "site") == []
    assert (
        f"skipping export 'leak': its folder is a symlink that leads outside {exports_dir}; "
        f"move the export into {exports_dir} to publish it"
    ) in result.stderr.splitlines()
    ids = [m["id"] for m in json.loads((tmp_path / "site/api/models").read_text())["models"]]
    assert ids == ["alias", "demo", "good"]
    client = make_app({"EXPORTS_DIR": exports_dir, "STATIC_DIR": write_static(tmp_path / "static")})
    client = client.test_client()
    assert [m["id"] for m in client.get("/api/models").get_json()["models"]] == ids
    assert client.get("/models/leak/manifest.json").status_code == 404
    assert client.get(f"/models/leak/{tflite_of(outside / 'leak')}").status_code == 404
    assert client.get("/models/alias/manifest.json").status_code == 200
    assert client.post("/api/models/leak/finetuned").status_code == 404


# --- malformed manifests ----------------------------------------------------------------------------------


DELETE = object()


def change(path: str, value: object) -> Callable[[dict], None]:
    """Set (or, with DELETE, remove) the manifest value at a dotted path; list items go by number."""

    def apply(manifest: dict) -> None:
        *parents, last = path.split(".")
        node = manifest
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return apply


T, V = "variants.tfjs-fp32", "variants['tfjs-fp32']"
SHAPE = "must be a list of positive integers or null"
# case -> (the change, the problem the warning names)
MALFORMED: dict[str, tuple[Callable[[dict], None], str]] = {
    "variant-not-a-dict": (change(T, "tfjs/fp32/model.json"), f"{V} must be an object"),
    "variants-a-list": (change("variants", ["tfjs-fp32"]), "variants must be an object"),
    "files-not-a-list": (change(f"{T}.files", "tfjs/fp32/model.json"), f"{V}.files must be a list"),
    "file-not-a-dict": (change(f"{T}.files.1", "x.bin"), f"{V}.files[1] must be an object"),
    "file-without-path": (change(f"{T}.files.1.path", DELETE), f"{V}.files[1].path must be a string"),
    "path-a-number": (change(f"{T}.files.1.path", 5), f"{V}.files[1].path must be a string"),
    "path-a-list": (change(f"{T}.files.0.path", ["a"]), f"{V}.files[0].path must be a string"),
    "sha256-a-number": (change(f"{T}.files.0.sha256", 7), f"{V}.files[0].sha256 must be a string"),
    "entry-not-listed": (change(f"{T}.entry", "tfjs/x.json"), f"{V}.entry must be one of its files"),
    "parity-a-number": (change(f"{T}.parity", 3), f"{V}.parity must be a string"),
    "target-unknown": (change(f"{T}.target", "onnx"), f"{V}.target must be 'tflite' or 'tfjs'"),
    "eval-a-number": (change("eval", 5), "eval must be a string"),
    "default-a-number": (change("default_variant", 5), "default_variant must name one of the variants"),
    "default-unknown": (change("default_variant", "x"), "default_variant must name one of the variants"),
    "input-shape-a-string": (change("input.shape", "8x8"), f"input.shape {SHAPE}"),
    "input-dim-negative": (change("input.shape.1", -8), f"input.shape {SHAPE}"),
    "output-missing": (change("output", DELETE), "output must be an object"),
    "output-shape-empty": (change("output.shape", []), "output.shape must be a non-empty list"),
    "labels-not-strings": (change("labels", [1, 2]), "labels must be a list of strings"),
    "preprocessing-a-string": (change("preprocessing", "image"), "preprocessing must be an object"),
    "range-reversed": (
        change("preprocessing.range", [1.0, 0.0]),
        "preprocessing.range must be two numbers [low, high] with low < high",
    ),
    "color-unknown": (
        change("preprocessing.color", "hsv"),
        "preprocessing.color must be 'rgb', 'bgr' or 'gray'",
    ),
    "mean-per-channel": (
        change("preprocessing.mean", [0.5, 0.5, 0.5]),
        "preprocessing.mean must be null or a list of 1 number(s), one per channel",
    ),
    "labels-file-a-number": (change("labels_file", 3), "labels_file must be a string"),
    "name-a-number": (change("name", 3), "name must be a string"),
}


def write_malformed(root: Path, change: Callable[[dict], None]) -> None:
    manifest = write_export(root / "broken", seed=b"broken")
    change(manifest)
    (root / "broken/manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def client(tmp_path: Path, exports_dir: Path) -> FlaskClient:
    shutil.rmtree(exports_dir / "demo")  # so the broken export would be the default: the one /sw.js reads
    return make_app(
        {"EXPORTS_DIR": exports_dir, "STATIC_DIR": write_static(tmp_path / "static")}
    ).test_client()


def warnings_about(caplog: pytest.LogCaptureFixture, export_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"'{export_id}'" in r.getMessage()
    ]


def assert_only_good_is_served(client: FlaskClient) -> None:
    sw = client.get("/sw.js")
    assert sw.status_code == 200
    assert sw.data.startswith(b'self.__EDGESHIP_MODELS__ = {"default":"good"')
    api = client.get("/api/models")
    assert api.status_code == 200
    assert [m["id"] for m in json.loads(api.data, parse_constant=pytest.fail)["models"]] == ["good"]


def expected_warning(problem: str) -> str:
    return f"skipping export 'broken': its manifest.json is malformed ({problem}); re-export the model"


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_manifest_skips_only_its_export(client, exports_dir, caplog, case):
    change, problem = MALFORMED[case]
    write_malformed(exports_dir, change)
    assert_only_good_is_served(client)
    assert warnings_about(caplog, "broken") == [expected_warning(problem)] * 2  # one per request
    assert client.get("/models/broken/manifest.json").status_code == 404
    assert client.post("/api/models/broken/finetuned").status_code == 404


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"format": "edgeship-export", "variants": {}, "bytes": NaN}',
            "is not valid JSON (NaN is not JSON)",
        ),
        ('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", "is not valid JSON (nested too deeply)"),
        ("[1, 2]", "is not a JSON object"),
    ],
    ids=["nan", "deep", "list"],
)
def test_a_manifest_that_is_not_plain_json_skips_only_its_export(client, exports_dir, caplog, text, problem):
    write_export(exports_dir / "broken", seed=b"broken")
    (exports_dir / "broken/manifest.json").write_text(text)
    assert_only_good_is_served(client)
    warning = f"skipping export 'broken': its manifest.json {problem}; re-export the model"
    assert warnings_about(caplog, "broken") == [warning] * 2


@pytest.mark.parametrize("case", ["files-not-a-list", "file-without-path", "variant-not-a-dict"])
def test_build_site_skips_a_malformed_export_with_one_warning(exports_dir, tmp_path, caplog, case):
    change, problem = MALFORMED[case]
    write_malformed(exports_dir, change)
    site = build_site(exports_dir, tmp_path / "site", static_dir=write_static(tmp_path / "static"))
    assert site.exports == ["demo", "good"] and not (tmp_path / "site/models/broken").exists()
    assert warnings_about(caplog, "broken") == [expected_warning(problem)]
    ids = [m["id"] for m in json.loads((tmp_path / "site/api/models").read_text())["models"]]
    assert ids == ["demo", "good"]


@app_built
def test_build_site_cli_names_the_malformed_export(exports_dir, tmp_path):
    write_malformed(exports_dir, MALFORMED["path-a-number"][0])
    result = build_site_cli(exports_dir, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [expected_warning(MALFORMED["path-a-number"][1])]
    assert sorted(p.name for p in (tmp_path / "site/models").iterdir()) == ["demo", "good"]
