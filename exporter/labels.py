"""Class labels: read from a file (one per line) or given as a list, and checked against the model's classes.

The file is the user's but treated like any input: it must be a regular file (a FIFO would block the read),
small (bounded before it is read), and UTF-8 text. Blank lines are ignored; each label is stripped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from exporter.errors import DataError, parameter

LABELS_FILE_BYTES = 1 << 20  # 1 MiB: ImageNet-21k's 21,841 names take 300 kB
LABEL_CHARS = 200  # a class name, not a paragraph: the app shows it beside a probability


def read_labels(given: Path | Sequence[str] | None) -> list[str] | None:
    """The labels `given` names: a file's lines, or the list itself (checked to be text)."""
    if given is None:
        return None
    if isinstance(given, Path):
        return _from_file(given)
    labels = list(given)
    if isinstance(given, str) or not all(isinstance(label, str) for label in labels):
        raise DataError(f"{parameter('labels')} must be a list of strings, one per class, or a file path")
    return _checked(labels, f"{parameter('labels')}")


def check_count(labels: list[str] | None, classes: int | None, given: Path | Sequence[str] | None) -> None:
    """One label per class, or none at all."""
    if labels is None:
        return
    where = f"{parameter('labels')} {given}" if isinstance(given, Path) else parameter("labels")
    if classes is None:
        raise DataError(f"{where}: the model's output has no class dimension to label; leave the labels out")
    if len(labels) != classes:
        raise DataError(
            f"{where} holds {len(labels)} label(s), but the model has {classes} classes; give one label per "
            "class, one per line, in class order"
        )


def _from_file(path: Path) -> list[str]:
    where = f"{parameter('labels')} {path}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file; give a text file with one label per line") from None
    except OSError as error:
        raise DataError(f"{where} cannot be read ({error.strerror}); give a readable text file") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{where} is not a regular file; give a text file with one label per line")
    if info.st_size > LABELS_FILE_BYTES:
        raise DataError(
            f"{where} is {info.st_size:,} bytes, over the {LABELS_FILE_BYTES:,}-byte limit for a labels "
            "file; give one short label per line"
        )
    try:
        with path.open("rb") as file:
            data = file.read(LABELS_FILE_BYTES + 1)  # the file may have grown since it was measured
    except OSError as error:
        raise DataError(f"{where} cannot be read ({error.strerror}); give a readable text file") from None
    if len(data) > LABELS_FILE_BYTES:
        raise DataError(f"{where} is over the {LABELS_FILE_BYTES:,}-byte limit for a labels file")
    try:
        text = data.decode("utf-8-sig")  # a BOM, as some editors write, is not part of the first label
    except UnicodeDecodeError as error:
        raise DataError(
            f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save it as "
            "UTF-8, one label per line"
        ) from None
    return _checked([line.strip() for line in text.splitlines() if line.strip()], where)


def _checked(labels: list[str], where: str) -> list[str]:
    if not labels:
        raise DataError(f"{where} holds no labels; give one label per line, one per class")
    for number, label in enumerate(labels, start=1):
        if len(label) > LABEL_CHARS:
            raise DataError(
                f"{where}: label {number} has {len(label):,} characters, over the {LABEL_CHARS} allowed; "
                "give short class names"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in label):
            raise DataError(f"{where}: label {number} holds a control character; give plain text")
    return labels
