"""One error hierarchy for edgeship.

Every error a user can cause is an `EdgeshipError`, whose message says what is wrong and what to do.
Anything else is a bug. The command line (`edgeship/cli.py`) prints it as one line,
`ClassName: message`, and exits with code 2; the web app's own errors (`webapp.serve_error.ServeError`)
subclass it too, so the command line catches one base.

A message names the parameters it is about with `parameter("out")`, a placeholder, not with a flag: the
library does not know how it was called. `str(error)` fills in the Python name (`out`), and the command line
fills in its own (`--out` for `edgeship export`, `OUT` for `edgeship build-site`) with `error.message(flag)`.
The placeholder is delimited by NUL characters, which no path or user text can hold, so filling it in can
never change the rest of the message.
"""

from __future__ import annotations

from collections.abc import Callable

_MARK = "\0"
# The Python names of parameters whose placeholder name is not the parameter's own.
_LIBRARY_NAMES = {"site_out": "out", "allow_degraded": "allow_degraded=True"}


def parameter(name: str) -> str:
    """The placeholder for parameter `name` in a message (`out`, `calibration`, `site_out`, ...)."""
    return f"{_MARK}{name}{_MARK}"


def python_name(name: str) -> str:
    """How the library's own API names a parameter in a message."""
    return _LIBRARY_NAMES.get(name, name)


class EdgeshipError(Exception):
    """Base class: the message is the whole story (what is wrong and what to do)."""

    exit_code = 2

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        parts = message.split(_MARK)
        # The parameter the error is about: the one given, else the first one the message names.
        self.parameter: str | None = parameter or (parts[1] if len(parts) > 2 else None)

    def message(self, name: Callable[[str], str] | None = None) -> str:
        """The message with each parameter shown as `name(parameter)` (default: its Python name)."""
        parts = str(self.args[0]).split(_MARK) if self.args else [""]
        show = name or python_name
        return "".join(show(part) if index % 2 else part for index, part in enumerate(parts))

    def __str__(self) -> str:
        return self.message()


class ModelLoadError(EdgeshipError):
    """The model file or folder is missing, empty, corrupt or of an unsupported kind."""


class UnsafeModelError(EdgeshipError):
    """The model would run arbitrary code (Lambda, unregistered custom layer): refused in safe mode."""


class UnsupportedModelError(EdgeshipError):
    """The model loads but a target cannot express it (an op, a layer, a Keras 3-only option)."""


class DataError(EdgeshipError):
    """Calibration, evaluation or training data that does not fit the model."""


class OutputDirError(EdgeshipError):
    """The output folder cannot be written, or another export holds it."""


class ConversionError(EdgeshipError):
    """A converter failed on a model that loaded fine."""


class StepTimeout(ConversionError):
    """A library step (a conversion, QAT's model transform) ran past its time limit (exporter/bounded.py)."""


class ValidationError(EdgeshipError):
    """One or more variants fell outside their tolerance; lists every failure at once."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(
            f"{len(failures)} variant(s) outside tolerance: "
            + "; ".join(failures)
            + f". Re-run with {parameter('allow_degraded')} to keep them anyway.",
            parameter="allow_degraded",
        )


class GpuConfigError(EdgeshipError):
    """GPU options that conflict, come too late, or name a device that does not exist."""
