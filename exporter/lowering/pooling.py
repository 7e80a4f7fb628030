"""Global pooling with `keepdims=True` (MobileNetV3's squeeze-and-excite blocks use it).

tfjs-layers 4.22's GlobalAveragePooling2D/GlobalMaxPooling2D (and the 1D ones) have no `keepdims`: they
ignore it and return `(batch, channels)`, so the next layer fails to load ("expected ndim=4, found ndim=2").
The pooling becomes the plain layer, renamed `<name>_pooled`, followed by a `Reshape` to `(1, 1, channels)`
(`(1, channels)` for 1D) under the layer's own name: a reshape moves no value, the result is bit-identical.
"""

from __future__ import annotations

from exporter.keras_config import Config, entry_name
from exporter.lowering.graph import Call, LoweringContext, is_ref, layer, no_tfjs_layers, out

POOLINGS = frozenset(
    {"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D"}
)


def keeps_dims(entry: Config) -> bool:
    return bool((entry.get("config") or {}).get("keepdims"))


def lower_global_pooling(entry: Config, call: Call | None, context: LoweringContext) -> list[Config]:
    name = entry_name(entry)
    cfg = entry["config"]
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise no_tfjs_layers(entry["class_name"], name, "keepdims with channels_first cannot be rewritten")
    shape = None
    if call is not None and call.shapes:
        shape = next(iter(call.shapes.values()))
    if shape is None:
        shape = (entry.get("build_config") or {}).get("input_shape")
    channels = shape[-1] if shape else None
    if channels is None:
        raise no_tfjs_layers(entry["class_name"], name, "its number of channels is not known")
    pooled = context.fresh(f"{name}_pooled")
    plain = {**entry, "config": {**cfg, "name": pooled, "keepdims": False}}
    if "name" in entry:
        plain["name"] = pooled
    target = [1, 1, channels] if entry["class_name"].endswith("2D") else [1, channels]
    source = None
    if call is not None:
        if len(call.args) != 1 or not is_ref(call.args[0]):
            raise no_tfjs_layers(entry["class_name"], name, "it is not called on a single tensor")
        source = out(pooled)
    return [plain, layer("Reshape", name, {"target_shape": target}, source)]
