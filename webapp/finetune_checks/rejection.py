"""How an upload is refused: one exception carrying the HTTP status and every problem a stage found.

Each stage of the checks collects all its problems before raising, so a user fixes them in one go rather
than one per request; the message shows the first MAX_SHOWN_PROBLEMS so a hostile upload cannot make it
unbounded. Values from the upload are quoted through `show` (short, JSON-like) for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SHOWN_PROBLEMS = 8


class UploadRejected(Exception):
    """The upload cannot be accepted; `status` is 400 (malformed) or 413 (too large)."""

    def __init__(self, status: int, problems: list[str]):
        self.status = status
        self.problems = problems
        shown = problems[:MAX_SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problem(s)" if more else ""))


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def show(value: Any, limit: int = 60) -> str:
    """A short repr of a value from the upload, for messages."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
