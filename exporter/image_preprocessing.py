"""Photo preprocessing: the reference the browser app must match.

A decoded image (uint8 RGB or RGBA, height x width x 3|4) becomes the model input (float32, H x W x C)
exactly as the manifest's `preprocessing` says. webapp/static/app/ui/preprocess.js (`photoInput`) implements
the same algorithm step for step; tests/test_image_preprocessing.py runs both on the same arrays and holds
them to 1e-6. Change one, change the other.

The image is the file's pixel values as PIL or tf.io.decode_image decode them: no colour-profile conversion
(the app decodes uploads with `colorSpaceConversion: "none"`). The app applies EXIF orientation (the photo
is upright, as the user sees it); give the reference an upright image too (PIL.ImageOps.exif_transpose).

The steps, in this order, all in float64 until the final cast:

1. Alpha: an RGBA pixel is composited on white (p * a + 255 * (1 - a), a = alpha / 255): a cut-out photo
   looks the way an image viewer shows it, on a light page.
2. Geometry (`resize`), as a source rectangle that the H x W output covers:
   - "stretch": the whole image, aspect ratio not kept;
   - "crop": the largest centred rectangle of the target's aspect ratio (the rest is cut off);
   - "pad": the whole image, scaled to fit and centred; the rest of the output is pixel value 0 (black),
     before normalisation, as `tf.image.resize_with_pad` does on a decoded image.
   Each output pixel is the area average of the source over its footprint (a box filter with fractional
   coverage, applied along x then along y): downscaling averages every pixel it covers, partly covered
   pixels by the share covered; nothing is skipped and nothing is smoothed beyond the footprint.
3. Colour (`color`): "rgb" keeps the order, "bgr" reverses it, "gray" is 0.299 R + 0.587 G + 0.114 B (one
   channel; repeated when the model has 3). A 1-channel model always gets gray.
4. Range (`range` [lo, hi]): pixel value p in 0..255 becomes lo + p / 255 * (hi - lo).
5. `mean` / `std` (per output channel, so in BGR order for a "bgr" model): (x - mean[c]) / std[c].

No ink crop and no inversion: those are for digit-style models (`ink` "high"/"low"), which the app handles
with its drawing pad's own path.

Manifests written before these fields existed lack `color`, `resize`, `mean` and `std`: the defaults are
gray for 1 channel else rgb, stretch, and none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
RESIZE_MODES = ("stretch", "crop", "pad")
COLORS = ("rgb", "bgr", "gray")


def spec_of(preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The manifest's image `preprocessing` with the defaults for fields an older manifest lacks."""
    channels = int(preprocessing["channels"])
    if channels not in (1, 3):
        raise ValueError(f"photo preprocessing takes 1 or 3 channels, not {channels}")
    color = preprocessing.get("color") or ("gray" if channels == 1 else "rgb")
    resize = preprocessing.get("resize") or "stretch"
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, not {color!r}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")
    return {
        "height": int(preprocessing["height"]),
        "width": int(preprocessing["width"]),
        "channels": channels,
        "color": "gray" if channels == 1 else color,
        "resize": resize,
        "range": [float(v) for v in preprocessing.get("range") or (0.0, 1.0)],
        "mean": preprocessing.get("mean"),
        "std": preprocessing.get("std"),
    }


def source_rect(
    width: int, height: int, out_w: int, out_h: int, resize: str
) -> tuple[float, float, float, float]:
    """(x0, y0, w, h) of the source that the output covers; it may reach outside the image ("pad")."""
    if resize == "stretch":
        return 0.0, 0.0, float(width), float(height)
    target = out_w / out_h
    wider = width / height > target
    if resize == "crop":
        w, h = (height * target, float(height)) if wider else (float(width), width / target)
    else:  # pad: the rectangle grows around the image until it has the target's aspect ratio
        w, h = (float(width), width / target) if wider else (height * target, float(height))
    return (width - w) / 2, (height - h) / 2, w, h


def box_weights(size: int, start: float, extent: float, out: int) -> np.ndarray:
    """out x size matrix: the share of output pixel j's footprint that source pixel i covers.

    Output pixel j covers [start + j * step, start + (j + 1) * step) with step = extent / out; a footprint
    part outside 0..size has no weight (it is padding, value 0).
    """
    step = extent / out
    weights = np.zeros((out, size), dtype=np.float64)
    for j in range(out):
        a = start + j * step
        b = a + step
        for i in range(max(0, int(np.floor(a))), min(size, int(np.ceil(b)))):
            overlap = min(b, i + 1.0) - max(a, float(i))
            if overlap > 0:
                weights[j, i] = overlap / step
    return weights


def photo_input(image: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """A decoded uint8 RGB/RGBA image (height x width x 3|4) -> the model input, float32 H x W x C."""
    spec = spec_of(preprocessing)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected a uint8 height x width x 3|4 image, got {image.dtype} {image.shape}")
    pixels = image[..., :3].astype(np.float64)
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float64) / 255
        pixels = pixels * alpha + 255 * (1 - alpha)
    height, width = image.shape[:2]
    out_h, out_w = spec["height"], spec["width"]
    x0, y0, w, h = source_rect(width, height, out_w, out_h, spec["resize"])
    along_x = box_weights(width, x0, w, out_w)
    along_y = box_weights(height, y0, h, out_h)
    resized = np.einsum("ky,yjc->kjc", along_y, np.einsum("ji,yic->yjc", along_x, pixels))
    if spec["color"] == "gray":
        gray = resized @ np.array(GRAY_WEIGHTS, dtype=np.float64)
        resized = np.repeat(gray[..., None], spec["channels"], axis=2)
    elif spec["color"] == "bgr":
        resized = resized[..., ::-1]
    lo, hi = spec["range"]
    values = lo + resized / 255 * (hi - lo)
    if spec["mean"] is not None:
        values = values - np.array(spec["mean"], dtype=np.float64)
    if spec["std"] is not None:
        values = values / np.array(spec["std"], dtype=np.float64)
    return values.astype(np.float32)
