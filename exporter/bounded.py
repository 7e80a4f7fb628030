"""Time limits for library steps that can loop forever: a stuck step becomes a failed variant, not a hang.

    with bounded(step_timeout_s(), "tflite-qat: quantize_model"):
        q_model = tfmot.quantization.keras.quantize_model(model)

In the main thread a SIGALRM timer (`signal.setitimer`) interrupts the step with `StepTimeout` (a
`ConversionError`), whose message names the step, the limit and how to raise it. The pipeline bounds each
variant as a whole; a step inside it may be bounded again with its own name: the earlier deadline wins, and
each keeps its own message. `unbounded()` stops the clock of every enclosing limit for a step whose length
the user chose and which shows its progress (training for a given number of epochs), and restarts it after.

What it cannot do, said plainly: Python runs a signal handler only between bytecodes of the main thread, so
a step stuck inside one native call (a C++ converter pass) is stopped only when that call returns; a step
that catches every Exception and carries on is not stopped at all (the pipeline still reports the timeout,
see `StepLimit.expired`). Outside the main thread (a web server's worker) and where there is no SIGALRM
(Windows), `bounded` only runs the step. Every limit restores the handler and timer it found.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

from exporter.config import STEP_TIMEOUT_S
from exporter.errors import DataError, StepTimeout

ENVIRONMENT = "EDGESHIP_STEP_TIMEOUT"
_MIN_DELAY_S = 1e-3  # setitimer(0) would disarm the timer: a deadline already past fires after 1 ms
_paused_s = 0.0  # time spent in unbounded() blocks, which no limit counts


def step_timeout_s() -> float:
    """The limit for one variant (and for each bounded step in it): EDGESHIP_STEP_TIMEOUT seconds if set
    (0: no limit), else config.STEP_TIMEOUT_S."""
    text = os.environ.get(ENVIRONMENT, "").strip()
    if not text:
        return STEP_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise DataError(
            f"{ENVIRONMENT}={text} is not a number of seconds; give one such as 1200 (0: no limit), "
            f"or unset it for the default of {STEP_TIMEOUT_S:g} s"
        )
    return seconds


def _clock() -> float:
    """Seconds that count against limits: the monotonic clock less the time spent in unbounded()."""
    return time.monotonic() - _paused_s


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _arm(deadline: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(_MIN_DELAY_S, deadline - _clock()))


class StepLimit:
    """A context manager: the step inside it raises StepTimeout once `seconds` have passed."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.expired = False  # set when the limit fired, whether or not the step let StepTimeout through
        self._state = "new"  # new -> active -> done; an alarm is forwarded, acted on, ignored
        self._installed = False
        self._previous_handler: Any = None
        self._deadline = 0.0
        self._outer_deadline: float | None = None  # an enclosing timer's deadline, on _clock()

    @property
    def message(self) -> str:
        return (
            f"{self.what} did not finish in {self.seconds:g} s, so this variant was stopped there; "
            f"if the model is only slow, raise the limit with {ENVIRONMENT}=SECONDS"
        )

    def __enter__(self) -> StepLimit:
        if self.seconds <= 0 or not _can_interrupt():
            return self
        outer_left, _ = signal.setitimer(signal.ITIMER_REAL, 0)  # first, so no enclosing alarm is lost
        self._previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        self._installed = True
        now = _clock()
        self._outer_deadline = now + outer_left if outer_left > 0 else None
        self._deadline = now + self.seconds
        self._state = "active"
        _arm(min(self._deadline, self._outer_deadline or self._deadline))
        return self

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._state == "done":
            return
        if self._state == "new":  # an enclosing alarm that fired while this limit was being set up
            self._forward(signum, frame)
            return
        self._state = "done"
        if self._outer_deadline is not None and self._outer_deadline <= self._deadline:
            self._forward(signum, frame)  # the enclosing limit ran out first: its message, its error
            return
        self.expired = True
        raise StepTimeout(self.message)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        handler = self._previous_handler
        if callable(handler):
            handler(signum, frame)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self._installed:
            return
        self._state = "done"
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_handler)
        self._installed = False
        if self._outer_deadline is not None:
            _arm(self._outer_deadline)  # the enclosing timer runs on; past its deadline, it fires at once


def bounded(seconds: float, what: str) -> StepLimit:
    """Run the `with` block for at most `seconds` (0: no limit); `what` names the step in the message,
    e.g. "tflite-qat: quantize_model"."""
    return StepLimit(seconds, what)


@contextmanager
def unbounded() -> Iterator[None]:
    """Stop the clock of every enclosing limit for this block (training the user sized and watches)."""
    global _paused_s
    if not _can_interrupt():
        yield
        return
    left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    start = time.monotonic()
    try:
        yield
    finally:
        _paused_s += time.monotonic() - start
        if left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)
