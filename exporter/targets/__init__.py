"""Export targets behind one interface: `convert(context, spec, folder) -> Artifact`, dispatched by table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exporter.config import Target, VariantSpec
from exporter.context import Artifact, ExportContext
from exporter.targets import tfjs, tflite

Converter = Callable[[ExportContext, VariantSpec, Path], Artifact]

CONVERTERS: dict[Target, Converter] = {
    Target.TFLITE: tflite.convert,
    Target.TFJS: tfjs.convert,
}
