"""Progress for long steps: one line per step always, bars on a terminal (tqdm, on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def step(self, text: str) -> None:
        if not self.quiet:
            print(f"edgeship: {text}", file=self.stream, flush=True)

    def iterate(self, items: Iterable[T], total: int, desc: str) -> Iterator[T]:
        """Wrap an iterable in a bar (only drawn on a terminal, so logs stay readable)."""
        yield from tqdm(items, total=total, desc=desc, file=self.stream, leave=False, disable=self._no_bar())

    def bar(self, total: int, desc: str, unit: str = "it") -> Any:
        return tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False, disable=self._no_bar())

    def _no_bar(self) -> bool | None:
        return True if self.quiet else None  # None: tqdm draws only when the stream is a TTY
