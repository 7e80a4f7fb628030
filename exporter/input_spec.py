"""The model's input as data: what a pixel becomes before the model sees it (the manifest's `preprocessing`).

For an image input (H, W, C with C 1 or 3), the first source that speaks decides the value mapping:

1. the user's options (`input_range`, `mean`, `std`): source "user";
2. the model itself: a Rescaling and/or Normalization layer right after the input means the model does its
   own scaling, so it takes raw pixels, 0..255 (or the range those layers bring to unit scale): "model";
3. the keras.applications conventions, recognised by a model's name or its layers' names (a fine-tuned
   model usually keeps the base model as a nested model, or its layers): "keras.applications:<mode>";
4. the range of the data given (eval, else calibration, else train): "data";
5. [0, 1]: "default".

`color` is the user's, else the convention's (caffe: BGR), else gray or rgb by the channels; `resize` is
the user's, else `crop` for photos (the aspect ratio kept) and `stretch` for digit-style inputs.
Digit-style "ink" (crop to the strokes, match the background) only for 1-channel inputs of at most 64 px, or
when the caller's own preprocessing asks for it (the demo): an RGB model is never given it. Any other input
is {"kind": "numeric", "size": N}. The schema is in docs/EXPORT_FORMAT.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.errors import DataError, parameter

COLORS = ("rgb", "bgr", "gray")
RESIZES = ("stretch", "crop", "pad")
INK_MAX_PIXELS = 64  # digit-style inputs are small: scikit-learn's digits are 8x8, MNIST 28x28
# A range the leading layers must bring pixels to, to count as "the model scales its own input": unit scale,
# with room for ImageNet's per-channel standardisation ((255 - 123.7) / 58.4 = 2.25).
UNIT_SCALE = 8.0
SCALING = ("Rescaling", "Normalization")
# Layers that leave pixel values as they are at inference (augmentation layers are the identity then): the
# scaling may come after them, as in Keras' own tutorials.
TRANSPARENT = {
    "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
    "RandomContrast", "RandomBrightness", "RandomHeight", "RandomWidth",
}  # fmt: skip
CANDIDATE_RANGES = ((0.0, 255.0), (0.0, 1.0), (-1.0, 1.0))  # raw pixels first: what a Rescaling layer is for
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# keras.applications' preprocess_input modes (keras/src/applications/imagenet_utils.py), as this schema says
# them: "tf" scales to [-1, 1]; "torch" to [0, 1], then ImageNet mean and std; "caffe" flips RGB to BGR and
# subtracts the ImageNet mean in BGR order from 0..255 values.
MODES: dict[str, dict[str, Any]] = {
    "tf": {"range": [-1.0, 1.0], "mean": None, "std": None, "color": "rgb"},
    "torch": {"range": [0.0, 1.0], "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "color": "rgb"},
    "caffe": {"range": [0.0, 255.0], "mean": [103.939, 116.779, 123.68], "std": None, "color": "bgr"},
}
# The models' names in Keras 3 and tf-keras (each application's `name=` / `Model(..., name=...)`), matched
# whole and case-insensitively. EfficientNet, EfficientNetV2, ConvNeXt, RegNet, ResNetRS and MobileNetV3 carry
# their preprocessing as layers (found above as source "model"); listed here is what each of them expects
# when built with include_preprocessing=False: MobileNetV3 and EfficientNetV2-S/M/L [-1, 1] (Rescaling(1/128,
# -1)), EfficientNetV2-B* and ConvNeXt ImageNet mean/std.
NAMES = {
    "tf": r"mobilenet_[\d.]+_\d+|mobilenetv2_[\d.]+_\d+|mobilenetv3(small|large)|nasnet(_mobile|_large)?"
    r"|xception|inception_v3|inception_resnet_v2|resnet(50|101|152)v2|efficientnetv2-[sml]",
    "torch": r"densenet(121|169|201)?|convnext_(tiny|small|base|large|xlarge)|efficientnetv2-b[0-3]",
    "caffe": r"resnet(50|101|152)|vgg1[69]",
}
VGG = {"block1_conv1", "block1_conv2", "block1_pool", "block2_conv1"}
# Layer names only these families use, for a model rebuilt from a base model's layers: Model(base.input, ...).
LAYER_SIGNS = {
    "tf": [
        {"Conv1", "bn_Conv1", "expanded_conv_depthwise"},  # MobileNetV2
        {"conv1", "conv_dw_1", "conv_pw_1"},  # MobileNet
        {"stem_conv1", "stem_bn1"},  # NASNet
        {"block1_conv1_bn", "block2_sepconv1"},  # Xception
        {"mixed0", "mixed1", "mixed2"},  # InceptionV3
        {"block35_1_mixed", "conv_7b"},  # InceptionResNetV2
        {"conv2_block1_preact_bn", "post_bn"},  # ResNetV2
    ],
    "torch": [{"conv2_block1_concat", "pool2_conv"}],  # DenseNet
    "caffe": [
        {"conv1_conv", "conv1_bn", "conv2_block1_1_conv", "conv2_block1_0_conv"},  # ResNet (v1)
        VGG,
    ],
}
NOT_VGG = {"block1_conv1_bn"}  # Xception's first block has VGG's names too, with batch norm


@dataclass(frozen=True)
class InputRequest:
    """What the user said about the input; None: infer it. Numbers may be text ("-1,1") or sequences."""

    input_range: str | Sequence[float] | None = None
    mean: str | Sequence[float] | None = None
    std: str | Sequence[float] | None = None
    color: str | None = None
    resize: str | None = None

    @property
    def maps_values(self) -> bool:
        """Whether the user said how values map; a channel order or resize alone leaves that to inference."""
        return any(v is not None for v in (self.input_range, self.mean, self.std))

    def given(self) -> list[str]:
        return [name for name, value in vars(self).items() if value is not None]


@dataclass(frozen=True)
class InputSpec:
    preprocessing: dict[str, Any]
    detail: str | None = None  # how the source decided: "rescaling maps 0..255 to [-1, 1]"

    def summary(self) -> str:
        """One line for the report: "32x32 rgb, range [-1, 1], resize crop (from keras.applications:tf)"."""
        spec = self.preprocessing
        if spec.get("kind") != "image":
            return f"{spec.get('size')} numbers (numeric input)"
        parts = [f"{spec['height']}x{spec['width']} {spec['color']}", f"range {_numbers(spec['range'])}"]
        parts += [f"{key} {_numbers(spec[key])}" for key in ("mean", "std") if spec.get(key)]
        parts.append(f"resize {spec['resize']}")
        if spec.get("ink"):
            parts.append(f"ink {spec['ink']}")
        source = spec.get("source", "user")
        return f"{', '.join(parts)} (from {source}{f': {self.detail}' if self.detail else ''})"

    def report(self) -> dict[str, Any]:
        return {**self.preprocessing, "summary": self.summary()}


def check_request(request: InputRequest) -> None:
    """What can be judged without the model: numbers that are numbers, a range that is one, known names."""
    low_high = _numbers_of(request.input_range, "input_range", "such as 0,1 or -1,1")
    if low_high is not None:
        if len(low_high) != 2:
            raise DataError(
                f"{parameter('input_range')} {_text(request.input_range)}: give two numbers, LO,HI "
                "(such as 0,1 or -1,1)"
            )
        if not low_high[0] < low_high[1]:
            raise DataError(
                f"{parameter('input_range')} {_text(request.input_range)}: the low end must be below the "
                "high end; give LO,HI such as 0,1 or -1,1"
            )
    _numbers_of(request.mean, "mean", "one per channel, such as 0.485,0.456,0.406")
    std = _numbers_of(request.std, "std", "one per channel, such as 0.229,0.224,0.225")
    if std is not None and not all(s > 0 for s in std):
        raise DataError(
            f"{parameter('std')} {_text(request.std)}: every standard deviation must be above 0; give one "
            "per channel, such as 0.229,0.224,0.225"
        )
    for name, value, choices, what in (
        ("color", request.color, COLORS, "channel order"),
        ("resize", request.resize, RESIZES, "resize mode"),
    ):
        if value is not None and value not in choices:
            raise DataError(f"{parameter(name)} {value} is not a {what}; choose from {', '.join(choices)}")


def input_spec(
    request: InputRequest,
    shape: Sequence[int | None],
    keras_model: Any | None,
    data: tuple[str, tuple[float, float]] | None,
    given: dict[str, Any] | None = None,
) -> InputSpec:
    """The manifest's `preprocessing` for a model input of `shape` (batch first). `data`: (role, value
    range) of the data given; `given`: the caller's own preprocessing (the demo's), completed."""
    if given is not None:
        return InputSpec(complete(given), None)
    if not is_image(shape):
        if request.given():
            name = request.given()[0]
            raise DataError(
                f"{parameter(name)} describes image pixels, but this model's input "
                f"{_shape(shape)} is not an image (height, width and 1 or 3 channels); leave it out"
            )
        return InputSpec({"kind": "numeric", "size": int(np.prod([d or 1 for d in shape[1:]]))})
    height, width, channels = (int(d or 0) for d in shape[1:])
    _check_channels(request, channels)
    ink = "high" if channels == 1 and max(height, width) <= INK_MAX_PIXELS else None
    mapping, source, detail = _value_mapping(request, channels, keras_model, data)
    color = request.color or mapping.pop("color", None) or ("gray" if channels == 1 else "rgb")
    spec = {
        "kind": "image",
        "height": height,
        "width": width,
        "channels": channels,
        **mapping,
        "color": color,
        "resize": request.resize or ("stretch" if ink else "crop"),
        "ink": ink,
        "source": source,
    }
    return InputSpec(spec, detail)


def is_image(shape: Sequence[int | None]) -> bool:
    return len(shape) == 4 and shape[3] in (1, 3) and bool(shape[1]) and bool(shape[2])


def complete(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The caller's own preprocessing with what older manifests leave out filled in as the app reads it."""
    spec = dict(preprocessing)
    if spec.get("kind") == "image":
        spec.setdefault("mean", None)
        spec.setdefault("std", None)
        spec.setdefault("color", "gray" if spec.get("channels") == 1 else "rgb")
        spec.setdefault("resize", "stretch")
        spec.setdefault("ink", None)
        spec.setdefault("source", "user")
    return spec


def _value_mapping(
    request: InputRequest,
    channels: int,
    keras_model: Any | None,
    data: tuple[str, tuple[float, float]] | None,
) -> tuple[dict[str, Any], str, str | None]:
    """(range, mean, std and perhaps color; the source; how it was decided)."""
    if request.maps_values:
        low_high = _numbers_of(request.input_range, "input_range", "")
        mapping = {
            "range": low_high or [0.0, 1.0],
            "mean": _numbers_of(request.mean, "mean", ""),
            "std": _numbers_of(request.std, "std", ""),
        }
        return mapping, "user", None
    if keras_model is not None:
        own = _own_scaling(keras_model, channels)
        if own is not None:
            low_high, detail = own
            return {"range": low_high, "mean": None, "std": None}, "model", detail
        mode = _application_mode(keras_model)
        if mode is not None and (channels == 3 or MODES[mode]["mean"] is None):
            mapping = {key: list(v) if isinstance(v, list) else v for key, v in MODES[mode].items()}
            return mapping, f"keras.applications:{mode}", None
    if data is not None:
        role, (lo, hi) = data
        low_high = [-1.0 if lo < -0.01 else 0.0, 255.0 if hi > 1.5 else 1.0]
        detail = f"{role} values in {_numbers([lo, hi], '.3g')}"
        return {"range": low_high, "mean": None, "std": None}, "data", detail
    return {"range": [0.0, 1.0], "mean": None, "std": None}, "default", None


def _own_scaling(model: Any, channels: int) -> tuple[list[float], str] | None:
    """The input range the model's leading Rescaling/Normalization layers bring to unit scale, with what they
    map it to; None when the model does not begin with such layers (or their weights cannot be read)."""
    chain = _leading_scaling(model)
    if not chain:
        return None
    try:
        affine = [_affine(layer, channels) for layer in chain]
    except (AttributeError, TypeError, ValueError):
        return None
    for low, high in CANDIDATE_RANGES:
        lo, hi = np.full(channels, low), np.full(channels, high)
        for scale, offset in affine:
            lo, hi = lo * scale + offset, hi * scale + offset
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        if np.all(np.isfinite([lo, hi])) and max(np.max(np.abs(lo)), np.max(np.abs(hi))) <= UNIT_SCALE:
            names = ", ".join(type(layer).__name__.lower() for layer in chain)
            reached = _numbers([float(np.min(lo)), float(np.max(hi))], ".3g")
            return [low, high], f"{names} maps {low:g}..{high:g} to {reached}"
    return None


def _leading_scaling(model: Any) -> list[Any]:
    """The Rescaling/Normalization layers right after the input, looking into nested models (a base model
    used as the first layer, a data augmentation Sequential before the scaling)."""
    chain = []
    for layer in _leading_layers(model):
        kind = type(layer).__name__
        if kind in SCALING:
            chain.append(layer)
        elif kind not in TRANSPARENT:
            break
    return chain


def _leading_layers(model: Any) -> Iterator[Any]:
    """The model's layers in order, nested models' layers in their place; lazily, so only the first few of
    a large model are looked at."""
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers"):
            yield from _leading_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            yield layer


def _affine(layer: Any, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (scale, offset) of one leading layer."""
    if type(layer).__name__ == "Rescaling":
        scale, offset = layer.scale, layer.offset
    else:
        if getattr(layer, "axis", (-1,)) not in ((-1,), (3,), -1, 3, [-1], [3]):
            raise ValueError("normalizes over an axis other than the channels")
        mean = np.asarray(layer.mean, dtype=np.float64).ravel()
        std = np.maximum(np.sqrt(np.asarray(layer.variance, dtype=np.float64).ravel()), 1e-7)
        scale, offset = (std, mean) if getattr(layer, "invert", False) else (1 / std, -mean / std)
    return _per_channel(scale, channels), _per_channel(offset, channels)


def _per_channel(value: Any, channels: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).ravel()
    if array.size not in (1, channels):
        raise ValueError(f"{array.size} values for {channels} channels")
    return np.broadcast_to(array, (channels,)).copy()


def _application_mode(model: Any) -> str | None:
    """The keras.applications mode of the model, of a base model nested in it, or of the layers it holds."""
    names = {model.name.lower()} | {
        layer.name.lower() for layer in getattr(model, "layers", []) if hasattr(layer, "layers")
    }
    for mode, pattern in NAMES.items():
        if any(re.fullmatch(pattern, name) for name in names):
            return mode
    layer_names = set(_all_layer_names(model))
    for mode, signs in LAYER_SIGNS.items():
        for sign in signs:
            if sign <= layer_names and not (sign is VGG and NOT_VGG & layer_names):
                return mode
    return None


def _all_layer_names(model: Any) -> list[str]:
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        if hasattr(layer, "layers"):
            names += _all_layer_names(layer)
    return names


def _check_channels(request: InputRequest, channels: int) -> None:
    if request.color == "gray" and channels != 1:
        raise DataError(
            f"{parameter('color')} gray is for 1-channel inputs; this model takes {channels} channels: "
            "give rgb or bgr"
        )
    if request.color in ("rgb", "bgr") and channels != 3:
        raise DataError(
            f"{parameter('color')} {request.color} needs 3 channels; this model takes 1 (grayscale): give "
            "gray or leave it out"
        )
    for name in ("mean", "std"):
        values = _numbers_of(getattr(request, name), name, "")
        if values is not None and len(values) != channels:
            raise DataError(
                f"{parameter(name)} {_text(getattr(request, name))} has {len(values)} value(s), but this "
                f"model's input has {channels} channel(s); give one per channel"
            )


def _numbers_of(value: str | Sequence[float] | None, name: str, example: str) -> list[float] | None:
    """`value` as a list of finite floats ("0.5,0.5" or [0.5, 0.5]); a DataError naming `name` if not."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    numbers = []
    for item in items:
        try:
            if isinstance(item, bool) or not isinstance(item, (str, int, float, np.number)):
                raise ValueError
            number = float(item)
        except ValueError:
            raise DataError(
                f"{parameter(name)} {_text(value)}: {str(item).strip() or '(nothing)'} is not a number; give "
                f"comma-separated numbers{', ' + example if example else ''}"
            ) from None
        if not math.isfinite(number):
            raise DataError(f"{parameter(name)} {_text(value)}: give finite numbers, not {number}")
        numbers.append(number)
    return numbers


def _text(value: str | Sequence[float] | None) -> str:
    if isinstance(value, str):
        return value
    return ",".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in value or [])


def _numbers(values: Sequence[float], style: str = "g") -> str:
    return "[" + ", ".join(format(v, style) for v in values) + "]"


def _shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
