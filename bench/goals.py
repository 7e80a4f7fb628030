"""Issue #16's goals, each checked against the figures of one run: [goal, measured, met] rows.

The ratios are per round (sides alternating in the same run), as median (min–max) over rounds; "met" reads
the median. A goal whose figures are missing says why instead of a verdict.
"""

from __future__ import annotations

from typing import Any

LATENCY_VS_TFLITE = 0.85  # MobileNetV2: the app's fastest path / a plain tfjs-tflite page, same file
LATENCY_VS_NATIVE = 3.0  # MobileNetV2: the app's fastest path / the Python interpreter, 2 threads
DEMO_CACHED_MS = 400.0  # the demo's first prediction from the service worker cache
DEMO_CACHED_RATIO = 0.7  # ... against the plain tfjs page (default backend, HTTP cache)
MOBILENET_CACHED_RATIO = 0.5
FINETUNE_SAMPLES_PER_S = 20.0  # MobileNetV2's head, the default training backend


def _x(s: dict[str, Any] | None, digits: int = 2) -> str:
    if not s:
        return "—"
    if s.get("n", 1) == 1:
        return f"{s['median']:.{digits}f}x"
    return f"{s['median']:.{digits}f}x ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def _met(value: float | None, limit: float, at_least: bool = False) -> str:
    if value is None:
        return "not measured"
    return "yes" if (value >= limit if at_least else value <= limit) else "**no**"


def _model(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return ((results.get("browser") or {}).get("models") or {}).get(name)


def native_floor(results: dict[str, Any], name: str, variant: str) -> dict[str, Any] | None:
    """The Python interpreter's figures for the file the browser runs (the browser-facing file where the
    export has one, else the deployable one; tflite-fp32's when the app's fastest path is a tfjs model)."""
    section = results["workloads"].get(name, {}).get("tflite_latency") or {}
    for key, what in (("browser_rows", "browser file"), ("rows", "file")):
        rows = {r["variant"]: r["threads"] for r in section.get(key, [])}
        chosen = variant if variant in rows else "tflite-fp32"
        if chosen in rows:
            return {"variant": chosen, "file": what, **rows[chosen]}
    return None


def _path(model: dict[str, Any]) -> str:
    fastest = model["fastest"]
    return f"{fastest['variant']} on {fastest['runtime']} {fastest['backend']}"


def _unmeasured(goal: str, why: str) -> list[str]:
    return [goal, why, "not measured"]


def _latency_rows(results: dict[str, Any]) -> list[list[str]]:
    goal_tflite = (
        f"MobileNetV2, app's fastest path ≤ {LATENCY_VS_TFLITE}x a plain page on tfjs-tflite (same file)"
    )
    goal_native = (
        f"MobileNetV2, app's fastest path ≤ {LATENCY_VS_NATIVE:g}x the Python interpreter (2 threads)"
    )
    model = _model(results, "mobilenetv2")
    if not model:
        return [_unmeasured(goal_tflite, "no MobileNetV2 browser figures"), _unmeasured(goal_native, "—")]
    ours = model["edgeship"]["median_ms"]["median"]
    rows = []
    side = (model.get("baselines") or {}).get("tfjs-tflite") or {}
    if "median_ratio" in side:
        ratio = side["median_ratio"]
        measured = (f"{_x(ratio)}: {ours:.2f} ms ({_path(model)}) vs {side['median_ms']['median']:.2f} ms "
                    f"(`{side['file'].rsplit('/', 1)[-1]}`)")  # fmt: skip
        rows.append([goal_tflite, measured, _met(ratio["median"], LATENCY_VS_TFLITE)])
    else:
        rows.append(_unmeasured(goal_tflite, f"plain tfjs-tflite page: {side.get('error', 'not run')}"))
    floor = native_floor(results, "mobilenetv2", model["fastest"]["variant"])
    if floor:
        two = floor["2"]["median_ms"]
        measured = f"{ours / two:.2f}x: {ours:.2f} ms vs {two:.2f} ms ({floor['variant']}, {floor['file']})"
        rows.append([goal_native, measured, _met(ours / two, LATENCY_VS_NATIVE)])
    else:
        rows.append(_unmeasured(goal_native, "no Python interpreter figures"))
    return rows


def _first_prediction_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    demo = _model(results, "demo")
    goal_ms = f"demo, first prediction from the service worker cache ≤ {DEMO_CACHED_MS:g} ms"
    goal_demo = (
        f"demo, first prediction from the cache ≤ {DEMO_CACHED_RATIO}x the plain tfjs page (default backend)"
    )
    goal_mobile = (
        f"MobileNetV2, first prediction from the cache ≤ {MOBILENET_CACHED_RATIO}x the plain tfjs page "
        "(default backend)"
    )
    if demo:
        cached = demo["edgeship"]["ttfp_cached_ms"]
        where = "offline" if demo["edgeship"].get("cached_offline") else "online: the offline visit failed"
        spread = "" if cached.get("n", 1) == 1 else f" ({cached['min']:.0f}–{cached['max']:.0f})"
        rows.append(
            [goal_ms, f"{cached['median']:.0f} ms{spread} ({where})", _met(cached["median"], DEMO_CACHED_MS)]
        )
    else:
        rows.append(_unmeasured(goal_ms, "no demo browser figures"))
    checks = (("demo", goal_demo, DEMO_CACHED_RATIO), ("mobilenetv2", goal_mobile, MOBILENET_CACHED_RATIO))
    for name, goal, limit in checks:
        model = _model(results, name)
        side = ((model or {}).get("baselines") or {}).get("tfjs-default") or {}
        if not model or "ttfp_cached_ratio" not in side:
            rows.append(_unmeasured(goal, side.get("error", "no browser figures")))
            continue
        ratio = side["ttfp_cached_ratio"]
        measured = (f"{_x(ratio)}: {model['edgeship']['ttfp_cached_ms']['median']:.0f} ms vs "
                    f"{side['ttfp_cached_ms']['median']:.0f} ms ({side['backend']}, HTTP cache)")  # fmt: skip
        rows.append([goal, measured, _met(ratio["median"], limit)])
    return rows


def _fine_tuning_row(results: dict[str, Any]) -> list[str]:
    goal = (
        f"MobileNetV2's head, fine-tuning ≥ {FINETUNE_SAMPLES_PER_S:g} samples/s (default training backend)"
    )
    rows = ((results.get("fine_tuning") or {}).get("models") or {}).get("mobilenetv2") or []
    auto = next((r for r in rows if r.get("requested") == "auto"), None)
    if auto is None:
        return _unmeasured(goal, "no MobileNetV2 fine-tuning figures")
    if "error" in auto:
        return [goal, f"**failed**: {auto['error']}", "**no**"]
    cached = "frozen start cached" if auto.get("frozen_start_cached") else "whole model trained"
    setting = f"{auto['training_samples']} training samples × {auto['epochs']} epochs, {cached}"
    measured = f"{auto['samples_per_s']:.1f} samples/s on {auto['backend']} (auto): {setting}"
    return [goal, measured, _met(auto["samples_per_s"], FINETUNE_SAMPLES_PER_S, at_least=True)]


def rows(results: dict[str, Any]) -> list[list[str]]:
    """[goal, measured, met] for each of issue #16's goals."""
    return [*_latency_rows(results), *_first_prediction_rows(results), _fine_tuning_row(results)]
