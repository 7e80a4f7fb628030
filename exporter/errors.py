"""One error hierarchy for edgeship.

Every error a user can cause is an `EdgeshipError`. The CLI prints it as one line,
`ClassName: what happened and what to do`, and exits with code 2. Anything else is a bug.
"""

from __future__ import annotations


class EdgeshipError(Exception):
    """Base class: the message is the whole story (what is wrong and what to do)."""

    exit_code = 2


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


class ValidationError(EdgeshipError):
    """One or more variants fell outside their tolerance; lists every failure at once."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(
            f"{len(failures)} variant(s) outside tolerance: "
            + "; ".join(failures)
            + ". Re-run with --allow-degraded to keep them anyway."
        )


class GpuConfigError(EdgeshipError):
    """GPU options that conflict, come too late, or name a device that does not exist."""


class ServeError(EdgeshipError):
    """The folder to serve holds no export, or the address cannot be bound."""
