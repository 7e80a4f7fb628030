"""The browser section: runs bench/browser/run.mjs (Playwright, Debian's Chromium) against `edgeship serve`
and the plain pages (bench/static_server.py), and hands back its JSON."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.serving import ROOT, EdgeshipServer
from bench.static_server import StaticServer

CHROMIUM = Path("/usr/bin/chromium")
VENDOR_STAMP = ROOT / "webapp" / "static" / "vendor" / ".installed"


def missing_prerequisites() -> str | None:
    """Why the browser section cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (make setup installs Debian's chromium)"
    if not (ROOT / "webapp" / "static" / "sw.js").exists() or not (ROOT / "webapp/static/vendor").is_dir():
        return "the app's vendored runtimes are not built (make setup runs scripts/vendor.sh)"
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        return "node_modules/playwright-core is missing (make setup runs npm install)"
    return None


def browser_file(spec: dict[str, Any]) -> str:
    """The .tflite file a browser runs for a tflite variant: the manifest's `browser` file (batch 1, float
    I/O: what LiteRT.js accepts) where the export has one, else the deployable `entry` (older exports)."""
    return (spec.get("browser") or {}).get("entry") or spec["entry"]


def _model_config(export_id: str, folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text())
    tflite = {v: spec for v, spec in manifest["variants"].items() if spec["target"] == "tflite"}
    shape = manifest["input"]["shape"][1:]
    size = 1
    for dim in shape:
        size *= dim
    prep = manifest.get("preprocessing") or {}
    return {
        "id": export_id,
        "inputSize": size,
        "range": prep.get("range", [0.0, 1.0]),
        "variants": {v: spec["target"] for v, spec in manifest["variants"].items()},
        "plainModel": f"/models/{export_id}/{manifest['variants']['tfjs-fp32']['entry']}",
        "tfliteFiles": {v: f"/models/{export_id}/{browser_file(spec)}" for v, spec in tflite.items()},
    }


def run(exports_dir: Path, export_ids: list[str], settings: dict[str, Any], log: Any) -> dict[str, Any]:
    """`exports_dir` holds one export folder per id (served together, as a user serves them)."""
    folders = {export_id: exports_dir / export_id for export_id in export_ids}
    with (
        EdgeshipServer(exports_dir) as app,
        StaticServer(folders) as plain,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = {
            "edgeshipUrl": app.url,
            "plainUrl": plain.url,  # + a plain page (bench/browser/run.mjs BASELINES)
            "models": [_model_config(export_id, folder) for export_id, folder in folders.items()],
            **settings,
        }
        config_path, out_path = Path(tmp) / "config.json", Path(tmp) / "out.json"
        config_path.write_text(json.dumps(config))
        result = subprocess.run(
            ["node", str(ROOT / "bench" / "browser" / "run.mjs"), str(config_path), str(out_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        for line in result.stderr.splitlines():
            if line.startswith(("browser:", "  ")):
                log(line)
        if result.returncode != 0:
            raise RuntimeError(f"the browser benchmark failed:\n{result.stderr[-4000:]}")
        return json.loads(out_path.read_text())
