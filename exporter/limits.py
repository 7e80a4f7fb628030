"""Limits on what a model file can make edgeship read: real models stay far below them, hostile files do not.

A `.keras` file is a zip, and a few MB of deflated spaces inflate to gigabytes: every member's size is checked
before anything is read, and the read itself stops at the limit should the header lie. JSON nested thousands
of levels deep exhausts the stack of json.loads and of Keras' recursive deserialiser; no real model nests more
than a few dozen levels, so a deeper config is refused before Keras sees it. Each check raises ContentError
with a short reason; the loader wraps it into the one line that names the file.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from typing import Any

MIB = 2**20
# A .keras config.json is ~150 KB for MobileNetV2 and a few MB for the largest keras.applications models.
MAX_CONFIG_BYTES = 64 * MIB
MAX_METADATA_BYTES = 1 * MIB  # {"keras_version": ..., "date_saved": ...}
MAX_JSON_DEPTH = 256
# Weights hardly compress (float noise), so a big member that inflates 100-fold is a zip bomb.
MAX_INFLATION = 100
_BIG_MEMBER = 64 * MIB


class ContentError(ValueError):
    """What is wrong inside a model file, as a short clause for the loader's one-line message."""


def check_members(archive: zipfile.ZipFile) -> None:
    """Refuse a zip whose members inflate like a bomb, before any of them is read."""
    for info in archive.infolist():
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _BIG_MEMBER and ratio > MAX_INFLATION:
            size = _mib(info.file_size)
            raise ContentError(
                f"{info.filename} inflates {ratio:.0f}-fold to {size}, which only a zip bomb does"
            )


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """The member's bytes, never more than `limit` of them in memory, whatever its header claims."""
    info = archive.getinfo(name)
    too_big = f"over the {_mib(limit)} limit for it; no real model's is that big"
    if info.file_size > limit:
        raise ContentError(f"{name} inflates to {_mib(info.file_size)}, {too_big}")
    if info.flag_bits & 0x1:
        raise ContentError(f"{name} is encrypted")
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (NotImplementedError, zlib.error) as error:  # an unknown compression method, a broken stream
        raise ContentError(f"{name} cannot be inflated: {_first_line(error)}") from None
    if len(data) > limit:
        raise ContentError(f"{name} inflates to more than {_mib(limit)}, {too_big}")
    return data


def parse_json_object(text: str | bytes, name: str) -> dict[str, Any]:
    """A JSON object nested at most MAX_JSON_DEPTH levels deep, or ContentError saying what it is instead."""
    try:
        value = json.loads(text)
    except RecursionError:  # json.loads itself gives up near 1,000 levels
        raise ContentError(_too_deep(name)) from None
    except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise ContentError(f"{name} is not valid JSON: {_first_line(error)}") from None
    if not isinstance(value, dict):
        raise ContentError(f"{name} is a JSON {_json_type(value)}, not an object")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ContentError(_too_deep(name))
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, `[]` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return deepest


def _too_deep(name: str) -> str:
    return f"{name} is nested more than {MAX_JSON_DEPTH} levels deep, which no real model is"


def _json_type(value: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _mib(size: int) -> str:
    return f"{size / MIB:.0f} MiB" if size >= MIB else f"{size} bytes"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
