"""The shape of manifest.json: each field the server and the app read has the type EXPORT_FORMAT.md gives.

exports.load runs this once per read, so the routes, /sw.js, `edgeship build-site` and the browser only ever
see well-formed manifests and need no type checks of their own. Only whether reading a field can fail is
judged here; whether a path names a file that may be published is exports.served_file's business.
"""

from __future__ import annotations

import math
from typing import Any

TARGETS = ("tflite", "tfjs")
# Each optional preprocessing field's values; None: left out (an older manifest), which the app reads as the
# default (EXPORT_FORMAT.md).
PREPROCESSING_CHOICES: dict[str, tuple[tuple[str | None, ...], str]] = {
    "color": ((None, "rgb", "bgr", "gray"), "'rgb', 'bgr' or 'gray'"),
    "resize": ((None, "stretch", "crop", "pad"), "'stretch', 'crop' or 'pad'"),
    "ink": ((None, "high", "low"), "'high', 'low' or null"),
}
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
    problem = _preprocessing(manifest.get("preprocessing"))
    if problem is not None:
        return problem
    if not _optional(manifest.get("labels_file"), str):
        return "labels_file must be a string"
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


def _preprocessing(spec: dict[str, Any] | None) -> str | None:
    """The fields the app's preprocessing reads; older manifests leave out all but kind, size or
    height/width/channels/range (and ink), which the app then reads as gray or rgb, stretch, no mean/std."""
    if spec is None:
        return None
    if spec.get("kind") == "numeric":
        return None if _positive(spec.get("size")) else "preprocessing.size must be a positive integer"
    if spec.get("kind") != "image":
        return "preprocessing.kind must be 'image' or 'numeric'"
    for key in ("height", "width"):
        if not _positive(spec.get(key)):
            return f"preprocessing.{key} must be a positive integer"
    channels = spec.get("channels")
    if channels not in (1, 3) or type(channels) is not int:
        return "preprocessing.channels must be 1 or 3"
    low_high: Any = spec.get("range")
    if not (_numbers(low_high, 2) and low_high[0] < low_high[1]):
        return "preprocessing.range must be two numbers [low, high] with low < high"
    for key in ("mean", "std"):
        values = spec.get(key)
        if values is not None and not _numbers(values, channels):
            return f"preprocessing.{key} must be null or a list of {channels} number(s), one per channel"
    if spec.get("std") is not None and not all(v > 0 for v in spec["std"]):
        return "preprocessing.std must be above 0 in every channel"
    for key, (choices, shown) in PREPROCESSING_CHOICES.items():
        if spec.get(key) not in choices:
            return f"preprocessing.{key} must be {shown}"
    if spec.get("color") not in (None, "gray" if channels == 1 else "rgb", None if channels == 1 else "bgr"):
        return "preprocessing.color must be 'gray' for 1 channel, 'rgb' or 'bgr' for 3"
    if not _optional(spec.get("source"), str):
        return "preprocessing.source must be a string"
    return None


def _positive(value: Any) -> bool:
    return type(value) is int and value > 0


def _numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(type(v) in (int, float) and math.isfinite(v) for v in value)
    )


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
    if not _size(variant.get("peak_memory_bytes")):  # load_ms and peak_memory_bytes: the Compare view's
        return f"{where}.peak_memory_bytes must be a non-negative integer"
    load_ms = variant.get("load_ms")
    if load_ms is not None and not (type(load_ms) in (int, float) and 0 <= load_ms < float("inf")):
        return f"{where}.load_ms must be a non-negative number"
    for key in ("input_quantization", "output_quantization"):
        quantization = variant.get(key)
        if quantization is not None and not (
            isinstance(quantization, dict)
            and isinstance(quantization.get("scale"), (int, float))
            and type(quantization.get("zero_point")) is int
        ):
            return f"{where}.{key} must be an object with a number scale and an integer zero_point"
    problem = _files(where, variant)
    if problem is not None:
        return problem
    if not _optional(variant.get("browser_skipped"), str):
        return f"{where}.browser_skipped must be a string"
    if "browser" in variant:
        return _browser(f"{where}.browser", variant["browser"])
    return None


def _browser(where: str, browser: Any) -> str | None:
    """A TFLite variant's file for LiteRT.js: batch 1, float32 input and output (older exports have none)."""
    if not isinstance(browser, dict):
        return f"{where} must be an object"
    if browser.get("runtime") != "litert.js":
        return f"{where}.runtime must be 'litert.js'"
    for key in ("entry", "parity"):
        if not isinstance(browser.get(key), str):
            return f"{where}.{key} must be a string"
    if not _size(browser.get("bytes")):
        return f"{where}.bytes must be a non-negative integer"
    shape = browser.get("input_shape")
    if not (isinstance(shape, list) and shape[:1] == [1] and all(_positive(d) for d in shape)):
        return f"{where}.input_shape must be a list of positive integers starting with 1 (batch 1)"
    for key in ("input_dtype", "output_dtype"):
        if browser.get(key) != "float32":
            return f"{where}.{key} must be 'float32'"
    return _files(where, browser)


def _files(where: str, holder: dict[str, Any]) -> str | None:
    """`holder.files` (a variant's, or its browser file's): file records, `holder.entry` among them."""
    files = holder.get("files")
    if not isinstance(files, list):
        return f"{where}.files must be a list"
    for index, file in enumerate(files):
        problem = _file(f"{where}.files[{index}]", file)
        if problem is not None:
            return problem
    if holder["entry"] not in (file["path"] for file in files):
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
