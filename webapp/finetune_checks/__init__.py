"""Checking a fine-tuned model uploaded by the browser against the export it was trained from (no Flask here).

The upload (docs/FINETUNE_API.md) is three parts: `model` (JSON: a TFJS layers-model topology, its weight
specs, the samples' shape, a name and labels), `weights` (the concatenated float32 weight data) and
`samples` (float32 calibration inputs). Everything is checked here, in memory, before anything is written:
a rejected upload raises `UploadRejected` with its HTTP status (400 malformed, 413 too large) and one
message naming every problem of the first stage that found any.

One module per stage, each importing only those above it in this list, so the checks read one way:
`rejection` (the error and how uploaded values are quoted), `base` (what the base export allows),
`size_limits` (how large an upload may be), `document` (the model JSON's fields, weight specs, labels and
lengths), `topology` (the uploaded layers against the base's) and `upload` (`validate`: the stages in order).
What the route needs is imported from here.
"""

from webapp.finetune_checks.base import BASE_VARIANT, Base, BaseUnusable, read_base
from webapp.finetune_checks.rejection import UploadRejected
from webapp.finetune_checks.size_limits import limits, too_large
from webapp.finetune_checks.upload import PARTS, Upload, validate

__all__ = [
    "BASE_VARIANT",
    "PARTS",
    "Base",
    "BaseUnusable",
    "Upload",
    "UploadRejected",
    "limits",
    "read_base",
    "too_large",
    "validate",
]
