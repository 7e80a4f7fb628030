"""results.json -> RESULTS.md: the tables a reader needs, with the machine and versions beside them."""

from __future__ import annotations

from typing import Any

from bench import goals

MB = 1e6
GOALS = {"wall": 0.5, "peak": 1.0, "browser": 0.3}
COMMANDS = {
    "full": "make bench",
    "smoke": "python -m bench.run --smoke",
    "quick": "python -m bench.run --quick",
}


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
        f"{npm['@tensorflow/tfjs-backend-wasm']}, tfjs-backend-webgpu "
        f"{npm.get('@tensorflow/tfjs-backend-webgpu')}, LiteRT.js (@litertjs/core) "
        f"{npm.get('@litertjs/core')}, "
        f"tfjs-tflite {npm['@tensorflow/tfjs-tflite']} (plain-page baseline only); Node {m.get('node')}",
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
    rows += [
        [f"{r['variant']} (browser file)", cell(r["threads"]["1"]), cell(r["threads"]["2"])]
        for r in section.get("browser_rows", [])
    ]
    header = ["variant", "1 thread ms", "2 threads ms"]
    return [
        *lines,
        f"Median (min–max) of {section['runs']} single-sample invocations. *browser file*: the variant's "
        "browser-facing file (batch 1, float I/O), the one the app and the plain pages run.",
        "",
        *_table(header, rows),
        "",
    ]


def goals_table(results: dict[str, Any]) -> list[str]:
    return _table(["goal (issue #16)", "measured", "met"], goals.rows(results))


def _matrix(model: dict[str, Any]) -> list[str]:
    env = model.get("env") or {}
    litert = env.get("litert") or {}
    webgpu = "a WebGPU adapter" if env.get("webgpu") else "no WebGPU adapter (webgpu rows left out)"
    lines = [f"Every variant on every runtime and backend in edgeship's app (`edgeship serve`, "
             f"{'cross-origin isolated' if env.get('crossOriginIsolated') else 'not isolated'}; "
             f"tfjs wasm {env.get('wasmThreadCount')} thread(s); LiteRT.js "
             f"{'threads' if litert.get('threads') else 'no threads'}; {webgpu}). "
             "Latency is one sample, page → engine worker → page; *worker* is the engine's own figure; "
             "*first call* includes fetching and loading the variant (engine.load).", ""]  # fmt: skip
    rows = [
        [r["variant"], r.get("runtime", "?"), r["backend"], "**failed**: " + r["error"], "", "", ""]
        if "error" in r
        else [
            r["variant"],
            r["runtime"],
            r["backend"],
            _num(r["median_ms"], 2),
            f"{_num(r['min_ms'], 2)}–{_num(r['max_ms'], 2)}",
            _num(r["worker_median_ms"], 2),
            _num(r["first_ms"], 0),
        ]
        for r in model["matrix"]
    ]
    header = ["variant", "runtime", "backend", "median ms", "min–max", "worker ms", "first call ms"]
    return [*lines, *_table(header, rows), ""]


def _head_to_head(
    results: dict[str, Any], name: str, model: dict[str, Any], labels: dict[str, str]
) -> list[str]:
    fastest, ours = model["fastest"], model["edgeship"]
    cached_where = "offline" if ours.get("cached_offline") else "online"
    inside = ours.get("worker_median_ms")
    worker = f" (in the worker: {_spread(inside, digits=2)})" if inside else ""
    lines = [
        f"Head to head, {len(model['rounds'])} round(s), the sides' order rotating; median (min–max) over "
        "rounds; ratios per round, edgeship / that side. First prediction counts from navigation start: "
        f"*cold* in a fresh profile, *cached* from the service worker cache ({cached_where}) for the "
        "app, the HTTP cache for the plain pages. Every page is cross-origin isolated (COOP/COEP).",
        "",
    ]
    rows = [
        [f"**edgeship app**: {fastest['variant']} on {fastest['runtime']} ({fastest['backend']})",
         _spread(ours["median_ms"], digits=2) + worker, "", _spread(ours["ttfp_cold_ms"], digits=0), "",
         _spread(ours["ttfp_cached_ms"], digits=0), ""],
    ]  # fmt: skip
    for side, figures in (model.get("baselines") or {}).items():
        label = f"plain page: {labels.get(side, side)}"
        if "error" in figures:
            rows.append([label, f"**failed**: `{figures['error'][:200]}`", "", "", "", "", ""])
            continue
        threads = f", {figures['threads']} thread(s)" if figures.get("threads") else ""
        file = figures["file"].rsplit("/", 1)[-1]
        rows.append(
            [
                f"{label} ({figures['backend']}{threads}; `{file}`)",
                _spread(figures["median_ms"], digits=2),
                _ratio(figures["median_ratio"], 3),
                _spread(figures["ttfp_cold_ms"], digits=0),
                _ratio(figures["ttfp_cold_ratio"]),
                _spread(figures["ttfp_cached_ms"], digits=0),
                _ratio(figures["ttfp_cached_ratio"]),
            ]
        )
    floor = goals.native_floor(results, name, fastest["variant"])
    if floor:
        one, two = floor["1"]["median_ms"], floor["2"]["median_ms"]
        ratio = f"{ours['median_ms']['median'] / two:.2f}x"
        what = f"native floor: Python TFLite interpreter, {floor['variant']} {floor['file']} (1 / 2 threads)"
        digits = 2 if two >= 0.1 else 3
        floor_ms = f"{_num(one, digits)} / {_num(two, digits)}"
        rows.append([what, floor_ms, ratio + " (2 threads)", "—", "", "—", ""])
    header = ["side", "median latency ms", "ratio", "first prediction, cold ms", "ratio",
              "first prediction, cached ms", "ratio"]  # fmt: skip
    return [*lines, *_table(header, rows), ""]


def _stages(model: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Where the cached first prediction's time goes, edgeship's stages then the plain pages'."""
    stages = model["edgeship"].get("cached_stages") or []
    if not stages:
        return []
    lines = [
        "Where the cached first prediction's time goes (ms from navigation start, median over rounds). "
        "The app's performance marks (`edgeship:worker-start`, `edgeship:runtime-ready`, "
        "`edgeship:model-ready`, `edgeship:first-prediction`, on the page or in the engine worker) "
        "where it sets them; else what the browser records (the engine worker's time origin, its "
        "resource timing).",
        "",
    ]
    rows = [[s["stage"], _num(s["at_ms"], 0), s["source"]] for s in stages]
    lines += [*_table(["edgeship app", "at ms", "from"], rows), ""]
    plain = {side: f for side, f in (model.get("baselines") or {}).items() if f.get("cached_stages")}
    if plain:
        names = [s["stage"] for s in next(iter(plain.values()))["cached_stages"]]
        rows = [[labels.get(side, side), *(_num(s["at_ms"], 0) for s in f["cached_stages"])]
                for side, f in plain.items()]  # fmt: skip
        lines += [*_table(["plain page (marks plain:*)", *names], rows), ""]
    return lines


def _browser(results: dict[str, Any]) -> list[str]:
    section = results.get("browser")
    if section and "skipped" in section:
        return [f"Skipped: {section['skipped']}.", ""]
    if problem := _failed(section):
        return [problem, ""]
    assert section is not None
    labels = {side: b["label"] for side, b in (section.get("baselines") or {}).items()}
    lines: list[str] = ["### Goals", "", *goals_table(results), ""]
    for name, model in section["models"].items():
        lines += [f"### {name}", "", *_matrix(model), *_head_to_head(results, name, model, labels)]
        lines += _stages(model, labels)
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
        "`engine.train` in edgeship's app: the export's tfjs-fp32 model, only the head trained (the layers "
        "finetuneSetup marks as head), on random samples spread over a few of its classes (throughput "
        "only); 15 % of each class held out, as the app does. *auto* is the app's default training "
        "backend; it runs first, so it pays the backend's start-up (shader compilation) as a user's first "
        "training does. "
        "Samples per second as the engine reports (training samples × epochs / seconds, the frozen start's "
        "feature pass included).",
        "",
    ]
    rows = []
    for name, entries in fine["models"].items():
        for r in entries:
            requested = r.get("requested", r["backend"])
            if "error" in r:
                rows.append([name, requested, "**failed**: " + r["error"], "", "", "", ""])
                continue
            backend = f"{r['backend']} (auto)" if requested == "auto" else r["backend"]
            held = f" (+{r['held_out']} held out)" if r.get("held_out") else ""
            setup = (f"{r.get('training_samples', r['samples'])} samples{held} of {r.get('classes', '?')} "
                     f"classes × {r['epochs']} epoch(s), batch {r['batch_size']}")  # fmt: skip
            if r.get("frozen_start_cached"):
                cached = (
                    f"yes: features on {r.get('feature_backend')} in {_num(r.get('feature_seconds'), 2)} s"
                )
            elif r.get("frozen_start_cached") is False:
                cached = f"no: {r.get('not_cached_because')}"
            else:
                cached = "—"
            layers = ", ".join(r["trained_layers"])
            rows.append([name, backend, _num(r["samples_per_s"]), _num(r["seconds"]), setup, cached, layers])
    header = ["workload", "backend", "samples/s", "seconds", "run", "frozen start cached", "trained layers"]
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
        f"Written by `{COMMANDS.get(results['mode'], 'python -m bench.run')}` "
        f"({results['mode']} mode, {results.get('duration_s', 0) / 60:.1f} min). Raw figures: "
        "[results.json](results.json). Every comparison was measured in the same run, alternating the two "
        "sides; ratios are per pair of runs, as median (min–max).",
        "",
        *_machine(results["machine"]),
        "",
        "## Headline",
        "",
        "Issue #16's goals, checked on this run's figures (details in the browser and fine-tuning sections):",
        "",
        *goals_table(results),
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
        elif meta.get("reused"):
            lines.append(f"- **{name}**: {meta['title']}.")
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
    gpu = "WebGPU on SwiftShader (software)" if results["settings"].get("webgpu") else "no WebGPU"
    lines += [
        f"## Browser (Playwright, headless Chromium, software WebGL, {gpu}, no GPU)",
        "",
        *_browser(results),
    ]
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
