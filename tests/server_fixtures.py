"""Builders for the server tests: a small, well-formed export folder and a minimal static folder.

The server never interprets model bytes, so the .tflite and .bin files hold arbitrary bytes; what matters is
that the manifest follows docs/EXPORT_FORMAT.md and that hashed names carry the hash of their content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"bytes": len(data), "sha256": sha256(data)}


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def write_export(folder: Path, *, created: str = "2026-11-23T19:40:00+00:00", seed: bytes = b"") -> dict:
    """An export with one TFLite and one TFJS variant, eval.json and report.json; returns its manifest.

    `seed` changes the model bytes (and so the hashed names), as a re-export would.
    """
    tflite_bytes = b"TFL3" + seed + bytes(range(64))
    shard_bytes = b"\x00\x01" * 32 + seed
    tflite = f"tflite/fp32.{sha256(tflite_bytes)[:8]}.tflite"
    shard_name = f"group1-shard1of1.{sha256(shard_bytes)[:8]}.bin"
    shard = f"tfjs/fp32/{shard_name}"
    model_json = _json(
        {"format": "layers-model", "weightsManifest": [{"paths": [shard_name], "weights": []}]}
    )
    parity = _json({"reference": "fake", "inputs": {}, "outputs": {}})

    tflite_info = _write(folder / tflite, tflite_bytes)
    shard_info = _write(folder / shard, shard_bytes)
    model_info = _write(folder / "tfjs/fp32/model.json", model_json)
    _write(folder / "tflite/fp32.parity.json", parity)
    _write(folder / "tfjs/fp32/parity.json", parity)
    _write(folder / "eval.json", _json({"inputs": {}, "labels": {}}))
    _write(folder / "source/model.keras", b"not for the browser")
    manifest = {
        "format": "edgeship-export",
        "format_version": 1,
        "name": folder.name,
        "created": created,
        "edgeship_version": "0.1.0",
        "input": {"name": "input", "shape": [None, 8, 8, 1], "dtype": "float32"},
        "output": {"name": "output", "shape": [None, 10], "dtype": "float32"},
        "preprocessing": {"kind": "image", "height": 8, "width": 8, "channels": 1, "range": [0.0, 1.0]},
        "default_variant": "tfjs-fp32",
        "eval": "eval.json",
        "variants": {
            "tflite-fp32": {
                "target": "tflite",
                "precision": "fp32",
                "entry": tflite,
                "bytes": tflite_info["bytes"],
                "files": [{"path": tflite, **tflite_info}],
                "parity": "tflite/fp32.parity.json",
            },
            "tfjs-fp32": {
                "target": "tfjs",
                "precision": "fp32",
                "entry": "tfjs/fp32/model.json",
                "bytes": model_info["bytes"] + shard_info["bytes"],
                "files": [{"path": "tfjs/fp32/model.json", **model_info}, {"path": shard, **shard_info}],
                "parity": "tfjs/fp32/parity.json",
            },
        },
        "skipped": {},
    }
    _write(folder / "manifest.json", _json(manifest))
    _write(folder / "report.json", _json({"reference": {"accuracy": 0.9}, "rows": [], "tolerances": {}}))
    return manifest


STATIC_FILES = {
    "index.html": b"<!doctype html><title>edgeship</title>",
    "manifest.webmanifest": b'{"name": "edgeship"}',
    "app/main.js": b"console.log('edgeship');",
    "styles/app.css": b"body{}",
    "vendor/.installed": b"",
    "vendor/tfjs-backend-wasm.wasm": b"\x00asm\x01\x00\x00\x00",
    "icons/icon.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "sw.js": b"// the built service worker\n",
}


def write_static(folder: Path) -> Path:
    for name, data in STATIC_FILES.items():
        _write(folder / name, data)
    return folder
