"""The export report: one row per variant, as report.json and as a table on screen."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from exporter.config import VARIANTS


@dataclass
class Row:
    variant: str
    target: str
    precision: str
    status: str  # ok | degraded | skipped | failed
    bytes: int | None = None
    percent_of_fp32: float | None = None
    accuracy: float | None = None
    accuracy_change: float | None = None
    max_abs_diff: float | None = None
    agreement: float | None = None
    latency_ms: float | None = None
    load_ms: float | None = None  # TFLite: interpreter creation + allocate_tensors, in a fresh process
    peak_memory_bytes: int | None = None  # see peak_memory_kind
    peak_memory_kind: str | None = None  # measured (TFLite: RSS growth) | computed (TFJS: float32 weights)
    reason: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. which layers QAT left in float


def fill_percentages(rows: list[Row]) -> None:
    """Each variant's bytes as a share of its own target's fp32 variant."""
    fp32 = {row.target: row.bytes for row in rows if row.precision == "fp32" and row.bytes}
    for row in rows:
        if row.bytes and row.target in fp32:
            row.percent_of_fp32 = round(100.0 * row.bytes / fp32[row.target], 2)


def report_json(rows: list[Row], reference: dict[str, Any], folded: int) -> dict[str, Any]:
    return {
        "reference": reference,
        "folded_batchnorm": folded,
        "rows": [asdict(row) for row in rows],
        "tolerances": {row.variant: asdict(VARIANTS[row.variant].tolerance) for row in rows},
    }


MEMORY_LEGEND = (
    "peak MB: measured for TFLite (a fresh process loads and runs the file once); "
    "~ computed for TFJS (the float32 weights tfjs holds once loaded)"
)


def _fmt(value: Any, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def _peak(row: Row) -> str:
    """Megabytes; "~" marks a computed figure (TFJS: the float32 weights tfjs holds), not a measured one."""
    if row.peak_memory_bytes is None:
        return "—"
    return ("~" if row.peak_memory_kind == "computed" else "") + f"{row.peak_memory_bytes / 1e6:.2f}"


def table(rows: list[Row]) -> str:
    header = (
        "variant", "bytes", "% fp32", "accuracy", "Δ acc", "max diff", "agree", "ms (tflite)", "load ms",
        "peak MB", "status",
    )  # fmt: skip
    lines = [
        (
            row.variant,
            _fmt(row.bytes, "{:,}"),
            _fmt(row.percent_of_fp32, "{:.1f}"),
            _fmt(None if row.accuracy is None else row.accuracy * 100, "{:.2f} %"),
            _fmt(row.accuracy_change, "{:+.2f}"),
            _fmt(row.max_abs_diff, "{:.2e}"),
            _fmt(None if row.agreement is None else row.agreement * 100, "{:.1f} %"),
            _fmt(row.latency_ms, "{:.3f}"),
            _fmt(row.load_ms, "{:.2f}"),
            _peak(row),
            row.status if row.reason is None else f"{row.status}: {row.reason}",
        )
        for row in rows
    ]
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for cells in [header, *lines]:
        out.append(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )
        )
        out[-1] += "  " + cells[-1]
    if any(row.peak_memory_kind == "computed" for row in rows):
        out.append(MEMORY_LEGEND)
    out += [f"{row.variant}: {note}" for row in rows for note in row.notes]
    return "\n".join(out)
