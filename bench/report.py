"""results.json -> RESULTS.md: the tables a reader needs, with the machine and versions beside them."""

from __future__ import annotations

from typing import Any

MB = 1e6
GOALS = {"wall": 0.5, "peak": 1.0, "browser": 0.3}


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _spread(s: dict[str, Any] | None, scale: float = 1.0, digits: int = 1) -> str:
    """'median (min–max)' of a summary, or just the value when there was one run."""
    if not s:
        return "—"
    med = _num(s["median"] / scale, digits)
    if s.get("n", 1) == 1:
        return med
    return f"{med} ({_num(s['min'] / scale, digits)}–{_num(s['max'] / scale, digits)})"


def _ratio(s: dict[str, Any] | None, digits: int = 2) -> str:
    return "—" if not s else _spread(s, digits=digits) + "x"


def _failed(section: Any) -> str | None:
    if section is None:
        return "not run"
    if isinstance(section, dict) and "error" in section:
        return f"**failed**: `{section['error'].splitlines()[0][:300]}`"
    return None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def _machine(m: dict[str, Any]) -> list[str]:
    py, npm, official = m["python_packages"], m["npm_packages"], m.get("official_packages") or {}
    memory = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m.get("memory_bytes") else "unknown"
    return [
        f"- Date: {m['date']}; edgeship commit {m.get('edgeship_commit') or 'unknown'}",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {memory} memory, "
        f"{m['os']}; shared with other users while it ran (figures are medians of alternating runs)",
        f"- Python {m['python']}: TensorFlow {py['tensorflow']}, tf-keras {py['tf-keras']}, "
        f"Keras {py['keras']}, ai-edge-litert {py['ai-edge-litert']} (edgeship and the official TFLite path)",
        f"- Official tfjs converter, in its own venv (bench/.venv-official): tensorflowjs "
        f"{official.get('tensorflowjs')} on TensorFlow {official.get('tensorflow')}, tf-keras "
        f"{official.get('tf-keras')}",
        f"- Browser: {m.get('chromium') or 'Chromium (unknown)'}, headless via playwright-core "
        f"{npm['playwright-core']}; @tensorflow/tfjs {npm['@tensorflow/tfjs']}, tfjs-backend-wasm "
        f"{npm['@tensorflow/tfjs-backend-wasm']}, tfjs-tflite {npm['@tensorflow/tfjs-tflite']}; "
        f"Node {m.get('node')}",
        f"- Load test: {m.get('wrk') or 'wrk'}",
    ]


def headline(results: dict[str, Any]) -> list[list[str]]:
    """[workload, measure, value, goal] rows for the README."""
    rows = []
    for name, entry in results["workloads"].items():
        export = entry.get("export") or {}
        if "wall_ratio" in export:
            ws, ps = export["wall_s"], export["peak_rss_bytes"]
            rows.append([name, "export wall time, edgeship / official",
                         f"{_ratio(export['wall_ratio'])} ({_num(ws['edgeship']['median'])} s vs "
                         f"{_num(ws['official']['median'])} s)", f"≤ {GOALS['wall']}x"])  # fmt: skip
            rows.append([name, "export peak memory, edgeship / official",
                         f"{_ratio(export['peak_ratio'])} ({_num(ps['edgeship']['median'] / MB, 0)} MB vs "
                         f"{_num(ps['official']['median'] / MB, 0)} MB)", f"≤ {GOALS['peak']}x"])  # fmt: skip
        model = ((results.get("browser") or {}).get("models") or {}).get(name)
        if model:
            fastest = model["fastest"]
            what = f"{fastest['variant']} on {fastest['backend']}"
            ours = _num(model["edgeship"]["median_ms"]["median"], 2)
            plain = _num(model["plain"]["median_ms"]["median"], 1)
            rows.append(
                [
                    name,
                    f"browser median latency, edgeship ({what}) / plain page ({model['plain']['backend']})",
                    f"{_ratio(model['median_ratio'], 3)} ({ours} ms vs {plain} ms)",
                    f"≤ {GOALS['browser']}x" if name == "mobilenetv2" else "—",
                ]
            )
    return rows


def _export(name: str, entry: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    export = entry.get("export")
    if problem := _failed(export):
        return [*lines, problem, ""]
    assert export is not None
    rows = [
        [side, _spread(export["wall_s"][side]), _spread(export["peak_rss_bytes"][side], MB, 0)]
        for side in ("edgeship", "official")
    ]
    rows.append(["**ratio** edgeship / official", _ratio(export["wall_ratio"]), _ratio(export["peak_ratio"])])
    qat = entry.get("qat")
    if qat and "error" not in qat:
        rows.append([f"edgeship QAT alone (tflite-qat, epochs: {qat['epochs']})", _num(qat["wall_s"]),
                     _num(qat["peak_rss_bytes"] / MB, 0)])  # fmt: skip
    header = [f"runs per side: {export['runs']}", "wall s", "peak MB (process tree RSS)"]
    lines += _table(header, rows)
    if problem := _failed(qat):
        lines += ["", f"QAT: {problem}"]
    return [*lines, ""]


def _sizes(name: str, entry: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    section = entry.get("sizes")
    if problem := _failed(section):
        return [*lines, problem, ""]
    assert section is not None
    rows = [
        [r["variant"], _num(r["bytes"], 0), _num(r["percent_of_fp32"]), _num(r["floor_percent"], 0),
         _num(r["official_bytes"], 0), _num(r["official_percent_of_fp32"])]
        for r in section["rows"]
    ]  # fmt: skip
    header = ["variant", "bytes", "% of fp32", "floor %", "official tool bytes", "official % of fp32"]
    return [*lines, *_table(header, rows), ""]


def _latency(name: str, entry: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    section = entry.get("tflite_latency")
    if problem := _failed(section):
        return [*lines, problem, ""]
    assert section is not None
    digits = 3 if name == "demo" else 2

    def cell(t: dict[str, Any]) -> str:
        return f"{_num(t['median_ms'], digits)} ({_num(t['min_ms'], digits)}–{_num(t['max_ms'], digits)})"

    rows = [[r["variant"], cell(r["threads"]["1"]), cell(r["threads"]["2"])] for r in section["rows"]]
    header = ["variant", "1 thread ms", "2 threads ms"]
    return [
        *lines,
        f"Median (min–max) of {section['runs']} single-sample invocations.",
        "",
        *_table(header, rows),
        "",
    ]


def _python_floor(results: dict[str, Any], name: str, variant: str) -> dict[str, Any] | None:
    section = results["workloads"].get(name, {}).get("tflite_latency") or {}
    rows = {r["variant"]: r["threads"] for r in section.get("rows", [])}
    chosen = variant if variant in rows else "tflite-fp32"
    return {"variant": chosen, **rows[chosen]} if chosen in rows else None


def _browser(results: dict[str, Any]) -> list[str]:
    section = results.get("browser")
    if section and "skipped" in section:
        return [f"Skipped: {section['skipped']}.", ""]
    if problem := _failed(section):
        return [problem, ""]
    assert section is not None
    lines: list[str] = []
    for name, model in section["models"].items():
        digits = 2
        env = model.get("env") or {}
        lines += [f"### {name}", "",
                  f"Every variant on every runtime and backend in edgeship's app (`edgeship serve`, "
                  f"{'cross-origin isolated' if env.get('crossOriginIsolated') else 'not isolated'}; "
                  "tfjs wasm "
                  f"{env.get('wasmThreadCount')} thread(s); tfjs-tflite "
                  f"{'threads' if (env.get('tflite') or {}).get('multiThreading') else '1 thread'}). "
                  "Latency is one sample, page → engine worker → page; *worker* is the engine's own figure; "
                  "*first call* includes fetching and loading the variant.", ""]  # fmt: skip
        rows = [
            [r["variant"], r["runtime"], r["backend"], "**failed**: " + r["error"], "", "", ""]
            if "error" in r
            else [
                r["variant"],
                r["runtime"],
                r["backend"],
                _num(r["median_ms"], digits),
                f"{_num(r['min_ms'], digits)}–{_num(r['max_ms'], digits)}",
                _num(r["worker_median_ms"], digits),
                _num(r["first_ms"], 0),
            ]
            for r in model["matrix"]
        ]
        lines += _table(
            ["variant", "runtime", "backend", "median ms", "min–max", "worker ms", "first call ms"], rows
        )
        fastest, ours, plain = model["fastest"], model["edgeship"], model["plain"]
        floor = _python_floor(results, name, fastest["variant"])
        rounds = len(model["rounds"])
        cached_where = "offline, service worker cache" if all(
            r["edgeship"]["cached_offline"] for r in model["rounds"]
        ) else "service worker cache (online)"  # fmt: skip
        lines += ["", f"Head to head, {rounds} round(s), sides alternating; median (min–max) over rounds; "
                  "time to first prediction counts from navigation start.", ""]  # fmt: skip
        rows = [
            [f"edgeship app: {fastest['variant']} on {fastest['runtime']} ({fastest['backend']})",
             _spread(ours["median_ms"], digits=digits), _spread(ours["ttfp_cold_ms"], digits=0),
             _spread(ours["ttfp_cached_ms"], digits=0) + f" ({cached_where})"],
            [f"plain page: tfjs-fp32 model.json, default backend ({plain['backend']})",
             _spread(plain["median_ms"], digits=digits), _spread(plain["ttfp_cold_ms"], digits=0),
             _spread(plain["ttfp_cached_ms"], digits=0) + " (HTTP cache)"],
            ["**ratio** edgeship / plain", _ratio(model["median_ratio"], 3), _ratio(model["ttfp_cold_ratio"]),
             _ratio(model["ttfp_cached_ratio"])],
        ]  # fmt: skip
        if floor:
            one, two = floor["1"]["median_ms"], floor["2"]["median_ms"]
            rows.append([f"native floor: Python TFLite interpreter, {floor['variant']} (1 / 2 threads)",
                         f"{_num(one, digits)} / {_num(two, digits)}", "—", "—"])  # fmt: skip
            rows.append(["edgeship / native floor (2 threads)",
                         f"{_num(ours['median_ms']['median'] / two, 1)}x", "—", "—"])  # fmt: skip
        lines += _table(
            ["", "median latency ms", "first prediction, cold ms", "first prediction, cached ms"], rows
        )
        lines.append("")
    if section.get("page_errors"):
        lines += ["Page errors seen while measuring:", ""]
        lines += [f"- `{e.splitlines()[0][:200]}`" for e in section["page_errors"][:10]]
        lines.append("")
    return lines


def _fine_tuning(fine: dict[str, Any]) -> list[str]:
    if fine.get("status") != "measured":
        return [f"{fine.get('status', 'not measured')}: {fine.get('reason', '')}", ""]
    lines = [f"Note: {fine['note']}.", ""] if fine.get("note") else []
    lines += [
        "`engine.train` in edgeship's app: the export's tfjs-fp32 model on its own classes, only "
        "the head trained, on random samples (throughput only). Samples per second as the engine reports.",
        "",
    ]
    rows = []
    for name, entries in fine["models"].items():
        for r in entries:
            if "error" in r:
                rows.append([name, r["backend"], "**failed**: " + r["error"], "", "", ""])
            else:
                setup = f"{r['samples']} samples × {r['epochs']} epoch(s), batch {r['batch_size']}"
                layers = ", ".join(r["trained_layers"])
                rows.append([name, r["backend"], _num(r["samples_per_s"]), _num(r["seconds"]), setup, layers])
    header = ["workload", "backend", "samples/s", "seconds", "run", "trained layers"]
    return [*lines, *_table(header, rows), ""]


def _server(results: dict[str, Any]) -> list[str]:
    section = results.get("server")
    if section and "skipped" in section:
        return [f"Skipped: {section['skipped']}.", ""]
    if problem := _failed(section):
        return [problem, ""]
    assert section is not None
    rows = [
        [f"`{r['route']}`", _num(r["bytes"], 0), _num(r["requests_per_s"], 0), _num(r["mb_per_s"], 1),
         _num(r["p50_ms"], 1), _num(r["p99_ms"], 1), str(r["errors"])]
        for r in section["rows"]
    ]  # fmt: skip
    note = [f"Note: {section['note']}", ""] if section.get("note") else []
    return [
        *note,
        f"`{section['tool']}` on 127.0.0.1, {section['threads']} threads, "
        f"{section['connections']} connections, {section['duration_s']} s per route, against "
        "`edgeship serve` (waitress, 8 threads) on the same 2 cores.",
        "",
        *_table(["route", "bytes", "requests/s", "MB/s", "p50 ms", "p99 ms", "errors"], rows),
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# edgeship benchmark",
        "",
        f"Written by `{'python -m bench.run --smoke' if results['mode'] == 'smoke' else 'make bench'}` "
        f"({results['mode']} mode, {results.get('duration_s', 0) / 60:.1f} min). Raw figures: "
        "[results.json](results.json). Every comparison was measured in the same run, alternating the two "
        "sides; ratios are per pair of runs, as median (min–max).",
        "",
        *_machine(results["machine"]),
        "",
        "## Headline",
        "",
        *_table(["workload", "measure", "value", "goal"], headline(results)),
        "",
        "## Workloads",
        "",
    ]
    for name, entry in results["workloads"].items():
        meta = entry.get("meta") or {}
        if problem := _failed(meta):
            lines.append(f"- {name}: {problem}")
        else:
            lines.append(
                f"- **{name}**: {meta['title']}, {meta['parameters']:,} parameters; data: {meta['data']}."
            )
    lines += [
        "",
        "## Export time and peak memory",
        "",
        "edgeship: `edgeship export MODEL.keras --calibration --eval --variants tflite-fp32,tflite-fp16,"
        "tflite-dynamic-int8,tflite-int8,tfjs-fp32,tfjs-fp16,tfjs-int8 --allow-degraded` (its time includes "
        "BN folding, validation of every variant, parity fixtures, report and manifest). Official path, the "
        "way a user runs it, one process after another (wall = sum, peak = largest process):",
        "",
    ]
    first = next(iter(results["workloads"].values()), {}).get("export") or {}
    lines += [f"    {command}" for command in first.get("official_commands", [])]
    lines += [
        "",
        "(the tfjs converter is given the tf-keras twin `model.h5`: its output for a Keras 3 model does not "
        "load in tfjs 4.22). Peak memory is the largest sum of RSS over the process tree, sampled every "
        "50 ms. The `edgeship` process leaves out jax, pandas, scikit-learn and scipy, which TensorFlow and "
        "Keras import only as optional extras (edgeship/memory.py); the official tools' processes "
        "import them as usual. "
        "QAT has no official one-step path: edgeship's `tflite-qat` export is timed on its own.",
        "",
    ]
    for name, entry in results["workloads"].items():
        lines += _export(name, entry)
    lines += [
        "## Size",
        "",
        "Each variant's bytes (all its files) as a share of the same target's fp32, beside the floor (every "
        "weight at that width) and the official tools' output for the same model.",
        "",
    ]
    for name, entry in results["workloads"].items():
        lines += _sizes(name, entry)
    lines += ["## TFLite latency (Python, ai-edge-litert interpreter, XNNPACK)", ""]
    for name, entry in results["workloads"].items():
        lines += _latency(name, entry)
    lines += ["## Browser (Playwright, headless Chromium, software WebGL, no GPU)", "", *_browser(results)]
    lines += ["## Fine-tuning in the browser", "", *_fine_tuning(results.get("fine_tuning") or {})]
    lines += ["## Server load (wrk)", "", *_server(results)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report results.json`: re-render RESULTS.md beside it (after a change to this file)."""
    import json
    import sys
    from pathlib import Path

    path = Path((argv if argv is not None else sys.argv[1:])[0])
    (path.parent / "RESULTS.md").write_text(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
