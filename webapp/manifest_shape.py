"""The shape of manifest.json: each field the server and the app read has the type EXPORT_FORMAT.md gives.

exports.load runs this once per read, so the routes, /sw.js, `edgeship build-site` and the browser only ever
see well-formed manifests and need no type checks of their own. Only whether reading a field can fail is
judged here; whether a path names a file that may be published is exports.served_file's business.
"""

from __future__ import annotations

from typing import Any

TARGETS = ("tflite", "tfjs")
DIMS = "must be a list of positive integers or null"


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is malformed in `manifest`, in words ("variants['x'].files must be a list"), or None."""
    if not isinstance(manifest.get("name"), str):
        return "name must be a string"
    for key in ("created", "eval"):
        if not _optional(manifest.get(key), str):
            return f"{key} must be a string"
    labels = manifest.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        return "labels must be a list of strings"
    if not _optional(manifest.get("preprocessing"), dict):
        return "preprocessing must be an object"
    for key in ("input", "output"):
        problem = _tensor(key, manifest.get(key))
        if problem is not None:
            return problem
    variants = manifest.get("variants")
    if not isinstance(variants, dict):
        return "variants must be an object"
    for name, variant in variants.items():
        problem = _variant(f"variants[{name!r}]", variant)
        if problem is not None:
            return problem
    default = manifest.get("default_variant")
    if default is not None and not (isinstance(default, str) and default in variants):
        return "default_variant must name one of the variants"
    return None


def _optional(value: Any, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def _dimension(value: Any) -> bool:
    return value is None or (type(value) is int and value > 0)  # type(), not isinstance: True is an int


def _size(value: Any) -> bool:
    return value is None or (type(value) is int and value >= 0)


def _tensor(key: str, tensor: Any) -> str | None:
    if not isinstance(tensor, dict):
        return f"{key} must be an object"
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(_dimension(d) for d in shape):
        return f"{key}.shape {DIMS}"
    if key == "output" and not shape:  # the app reads the number of classes from the last dimension
        return "output.shape must be a non-empty list"
    return None


def _variant(where: str, variant: Any) -> str | None:
    if not isinstance(variant, dict):
        return f"{where} must be an object"
    if variant.get("target") not in TARGETS:
        return f"{where}.target must be 'tflite' or 'tfjs'"
    for key in ("precision", "entry"):
        if not isinstance(variant.get(key), str):
            return f"{where}.{key} must be a string"
    if not _optional(variant.get("parity"), str):
        return f"{where}.parity must be a string"
    if not _size(variant.get("bytes")):
        return f"{where}.bytes must be a non-negative integer"
    for key in ("input_quantization", "output_quantization"):
        quantization = variant.get(key)
        if quantization is not None and not (
            isinstance(quantization, dict)
            and isinstance(quantization.get("scale"), (int, float))
            and type(quantization.get("zero_point")) is int
        ):
            return f"{where}.{key} must be an object with a number scale and an integer zero_point"
    files = variant.get("files")
    if not isinstance(files, list):
        return f"{where}.files must be a list"
    for index, file in enumerate(files):
        problem = _file(f"{where}.files[{index}]", file)
        if problem is not None:
            return problem
    if variant["entry"] not in (file["path"] for file in files):
        return f"{where}.entry must be one of its files"
    return None


def _file(where: str, file: Any) -> str | None:
    if not isinstance(file, dict):
        return f"{where} must be an object"
    if not isinstance(file.get("path"), str) or not file["path"]:
        return f"{where}.path must be a string"
    if not _optional(file.get("sha256"), str):
        return f"{where}.sha256 must be a string"
    if not _size(file.get("bytes")):
        return f"{where}.bytes must be a non-negative integer"
    return None
