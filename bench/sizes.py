"""Size of every variant as a share of its target's fp32, beside the floors and the official tools' files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.export_time import official_files

# The smallest a variant can be when every weight is stored at that width (4 bytes per float32 weight).
FLOORS = {"fp32": 100.0, "fp16": 50.0, "dynamic-int8": 25.0, "int8": 25.0, "qat": 25.0}


def _precision(variant: str) -> str:
    return variant.split("-", 1)[1]


def sizes(edgeship_export: Path, official_out: Path, qat_export: Path | None) -> dict[str, Any]:
    manifest = json.loads((edgeship_export / "manifest.json").read_text())
    ours = {v: spec["bytes"] for v, spec in manifest["variants"].items()}
    if qat_export is not None and (qat_export / "manifest.json").is_file():
        qat_manifest = json.loads((qat_export / "manifest.json").read_text())
        ours |= {v: spec["bytes"] for v, spec in qat_manifest["variants"].items()}
    theirs = {v: sum(f.stat().st_size for f in files) for v, files in official_files(official_out).items()}
    rows = []
    for variant, size in ours.items():
        target = variant.split("-")[0]
        official = theirs.get(variant)
        rows.append(
            {
                "variant": variant,
                "bytes": size,
                "percent_of_fp32": 100.0 * size / ours[f"{target}-fp32"],
                "floor_percent": FLOORS[_precision(variant)],
                "official_bytes": official,
                "official_percent_of_fp32": None
                if official is None
                else 100.0 * official / theirs[f"{target}-fp32"],
            }
        )
    return {"rows": rows}
