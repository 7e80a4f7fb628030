"""zoo.json -> the coverage section of bench/RESULTS.md (between its markers), and one log line per model."""

from __future__ import annotations

from typing import Any

START, END = "<!-- zoo:start -->", "<!-- zoo:end -->"
TFLITE = ("tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8")
TFJS = ("tfjs-fp32", "tfjs-fp16", "tfjs-int8")
COLUMNS = (*TFLITE, "tflite-qat", *TFJS)
CELL = {"ok": "ok", "degraded": "degraded", "skipped": "skipped", "failed": "**failed**"}
PARITY_GOAL = 1e-4  # issue 14's acceptance: TFJS fp32 agrees with Keras to <= 1e-4


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    return CELL.get(row["status"], "—")


def _diff(value: float | None) -> str:
    return "—" if value is None else f"{value:.1e}"


def _parity(entry: dict[str, Any]) -> str:
    parity = entry.get("tfjs_parity") or {}
    if parity.get("status") == "measured":
        mark = "" if parity["max_abs_diff"] <= PARITY_GOAL else " (> 1e-4)"
        return f"{parity['max_abs_diff']:.1e}{mark}"
    return {"not written": "—", "failed": "**failed**"}.get(parity.get("status", ""), "—")


def tflite_complete(entry: dict[str, Any]) -> bool:
    """Every tflite variant written and within its tolerance."""
    rows = entry.get("variants") or {}
    return all((rows.get(v) or {}).get("status") == "ok" for v in TFLITE)


def written(entry: dict[str, Any], variant: str) -> bool:
    return ((entry.get("variants") or {}).get(variant) or {}).get("status") in ("ok", "degraded")


def tfjs_parity_ok(entry: dict[str, Any]) -> bool:
    parity = entry.get("tfjs_parity") or {}
    return parity.get("status") == "measured" and parity["max_abs_diff"] <= PARITY_GOAL


def one_line(entry: dict[str, Any]) -> str:
    if "variants" not in entry:
        return f"not exported: {entry.get('error')}"
    counts: dict[str, int] = {}
    for row in entry["variants"].values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    parity = _parity(entry)
    return f"exit {entry['exit_code']}; {statuses}; tfjs-fp32 parity {parity}; {entry['total_s']:.0f} s"


def reasons(entry: dict[str, Any]) -> list[str]:
    """One line per distinct (status, reason) of a model, naming the variants it applies to; then notes."""
    if "variants" not in entry:
        return [f"- **{entry['name']}**: not exported: {entry.get('error')}"]
    grouped: dict[tuple[str, str], list[str]] = {}
    for variant, row in entry["variants"].items():
        if row["status"] not in ("ok", "not planned"):
            grouped.setdefault((row["status"], row.get("reason") or "no reason given"), []).append(variant)
    lines = [
        f"- **{entry['name']}** {', '.join(variants)}: {status}: {reason}"
        for (status, reason), variants in grouped.items()
    ]
    for variant, row in entry["variants"].items():
        lines += [f"- **{entry['name']}** {variant}: note: {note}" for note in row.get("notes") or []]
    parity = entry.get("tfjs_parity") or {}
    if parity.get("status") in ("failed", "not measured"):
        lines.append(f"- **{entry['name']}** tfjs-fp32 parity {parity['status']}: {parity.get('reason')}")
    if entry.get("error") and entry.get("exit_code") not in (0, 3):
        lines.append(f"- **{entry['name']}**: export exit {entry.get('exit_code')}: {entry['error']}")
    return lines


def _header(results: dict[str, Any]) -> list[str]:
    m, s = results["machine"], results["settings"]
    py, npm = m["python_packages"], m["npm_packages"]
    memory = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m.get("memory_bytes") else "unknown"
    took = results.get("duration_s")
    lines = [
        "## Coverage: keras.applications (`make zoo`)",
        "",
        "Written by `python -m bench.zoo` "
        + (f"in {took / 60:.1f} min" if took is not None else "(stopped before its end: partial results)")
        + "; raw figures: [zoo.json](zoo.json).",
        "",
        f"- Date: {m['date']}; edgeship commit {m.get('edgeship_commit') or 'unknown'}",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {memory} memory, {m['os']}",
        f"- Python {m['python']}: TensorFlow {py['tensorflow']}, tf-keras {py['tf-keras']}, Keras "
        f"{py['keras']}, ai-edge-litert {py['ai-edge-litert']}; @tensorflow/tfjs {npm['@tensorflow/tfjs']} "
        f"(cpu backend) in Node {m.get('node')}",
        f"- Each model: `keras.applications.NAME(weights=None, classes=10)` at its smallest input (32x32, or "
        f"the minimum the family allows), trained {s['epochs']} epoch on {s['train']} scikit-learn digits "
        "upsampled to RGB through the family's preprocess_input (BatchNormalization statistics re-estimated "
        "on them, so that outputs depend on the input), then `edgeship export model.keras --calibration "
        f"({s['calibration']}) --eval ({s['eval']}) --train ({s['train']}) --qat-epochs {s['qat_epochs']} "
        "--allow-degraded --json`, one model at a time, "
        f"{s['timeout_s']} s each at most.",
        "- Cells: ok = written and within tolerance; degraded = written, outside its tolerance (without "
        "`--allow-degraded` the export exits 2: the *strict* code); skipped/failed: reasons below. "
        "TFLite fp32: max abs diff against Keras on the eval inputs (report.json). TFJS fp32: max abs diff "
        "of @tensorflow/tfjs running model.json against the Keras model on the export's parity inputs "
        f"(goal <= {PARITY_GOAL:g}). Output spread: the largest change of any Keras output across the eval "
        "inputs: a parity figure says something only well below it.",
    ]
    if results.get("note"):
        lines.append(f"- {results['note']}")
    if results.get("carried"):
        lines.append(
            "- † This run's time budget did not reach the model: its row is from the earlier run dated "
            "beside it (the exporter may have changed in between)."
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    entries = results["models"]
    header = ["family", "model", "input", "params", "Keras acc", "output spread", "exit (strict)",
              "tflite fp32", "fp16", "dyn-int8", "int8", "qat", "tfjs fp32", "fp16", "int8",
              "TFLite fp32 diff", "TFJS fp32 parity", "s"]  # fmt: skip
    rows = []
    for entry in entries:
        meta, variants = entry.get("meta") or {}, entry.get("variants") or {}
        shape = meta.get("input_shape")
        exit_code = entry.get("exit_code", "—")
        strict = entry.get("strict_exit_code", exit_code)
        carried = f" † {entry['carried_from'][:16].replace('T', ' ')}" if entry.get("carried_from") else ""
        rows.append([
            entry["family"], entry["name"] + carried, "x".join(map(str, shape)) if shape else "—",
            f"{meta['parameters'] / 1e6:.1f} M" if meta else "—",
            f"{meta['keras_eval_accuracy'] * 100:.0f} %" if meta else "—",
            _diff(meta.get("output_spread")),
            "—" if exit_code is None else f"{exit_code}" + ("" if strict == exit_code else f" ({strict})"),
            *(_cell(variants.get(v)) for v in COLUMNS),
            _diff((variants.get("tflite-fp32") or {}).get("max_abs_diff")),
            _parity(entry),
            f"{entry['total_s']:.0f}" if "total_s" in entry else "—",
        ])  # fmt: skip
    ran = [entry for entry in entries if "variants" in entry]
    n, families = len(entries), len({e["family"] for e in entries})
    summary = [
        f"- {n} model(s) from {families} families; exported (a report written): {len(ran)}.",
        f"- Every tflite variant (fp32, fp16, dynamic-int8, int8) written and within tolerance: "
        f"{sum(tflite_complete(e) for e in ran)} of {n}.",
        f"- TFJS fp32 written: {sum(written(e, 'tfjs-fp32') for e in ran)} of {n}; its parity <= "
        f"{PARITY_GOAL:g} in tfjs: {sum(tfjs_parity_ok(e) for e in ran)}.",
        f"- tflite-qat written: {sum(written(e, 'tflite-qat') for e in ran)} of {n}.",
        f"- Whole export failed (exit other than 0 or 3, or killed): "
        f"{sum('exit_code' in e and e['exit_code'] not in (0, 3) for e in entries)} of {n}; not exported "
        f"(not run within the time budget, or the model could not be built): "
        f"{sum('exit_code' not in e for e in entries)}.",
    ]
    align = ["---"] * 2 + ["---:"] * 5 + [":---:"] * 8 + ["---:"] * 3
    table = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    table += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    why = [line for entry in entries for line in reasons(entry)] or ["none"]
    body = [*_header(results), "", *table, "", *summary, "", "### Reasons and notes", "", *why]
    return "\n".join([START, *body, END])


def section_of(document: str) -> str | None:
    """The zoo section of a RESULTS.md (markers included), or None."""
    start, end = document.find(START), document.find(END)
    return document[start : end + len(END)] if start != -1 and end > start else None


def merge(document: str, section: str | None) -> str:
    """`document` with its zoo section replaced by `section` (appended when it has none; kept when None)."""
    if section is None:
        return document
    old = section_of(document)
    if old is not None:
        return document.replace(old, section)
    return document.rstrip("\n") + ("\n\n" if document.strip() else "") + section + "\n"
