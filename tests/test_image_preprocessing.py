"""Photo preprocessing: exporter/image_preprocessing.py (the reference) on small arrays whose answer is known by
hand, and the browser app's webapp/static/app/ui/preprocess.js (photoInput, run in node) on the same arrays,
held to the reference within 1e-6."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exporter.image_preprocessing import box_weights, photo_input, source_rect, spec_of

REPO = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def prep(height: int, width: int, channels: int = 3, **fields: object) -> dict[str, object]:
    return {
        "kind": "image",
        "height": height,
        "width": width,
        "channels": channels,
        "range": [0, 255],
        **fields,
    }


def rgb(values: list[list[list[int]]]) -> np.ndarray:
    return np.array(values, dtype=np.uint8)


def grey(rows: list[list[int]]) -> np.ndarray:
    """An RGB image whose three channels hold `rows`."""
    return np.repeat(np.array(rows, dtype=np.uint8)[..., None], 3, axis=2)


def test_same_size_stretch_is_the_identity() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7
    np.testing.assert_array_equal(photo_input(image, prep(2, 3, resize="stretch")), image.astype(np.float32))


def test_downscale_averages_every_pixel_of_the_footprint() -> None:
    image = grey([[0, 40, 80, 120], [160, 200, 240, 255], [10, 20, 30, 40], [50, 60, 70, 80]])
    out = photo_input(image, prep(2, 2))[..., 0]
    expected = [
        [(0 + 40 + 160 + 200) / 4, (80 + 120 + 240 + 255) / 4],
        [(10 + 20 + 50 + 60) / 4, (30 + 40 + 70 + 80) / 4],
    ]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_partly_covered_pixels_count_by_the_share_covered() -> None:
    # 3 pixels onto 2: each output covers 1.5 source pixels, the middle one half each.
    out = photo_input(grey([[30, 90, 210]]), prep(1, 2))[..., 0]
    np.testing.assert_allclose(out, [[(30 + 0.5 * 90) / 1.5, (0.5 * 90 + 210) / 1.5]], rtol=0, atol=1e-5)


def test_upscale_repeats_and_blends_at_the_boundary() -> None:
    # 2 pixels onto 3: the middle output pixel straddles both halves.
    out = photo_input(grey([[0, 240]]), prep(1, 3))[..., 0]
    np.testing.assert_allclose(out, [[0, 120, 240]], rtol=0, atol=1e-5)


def test_crop_keeps_the_centre_at_the_target_aspect() -> None:
    # 4 wide, 2 high onto 1 x 1: crop to the centre 2 x 2 (columns 1 and 2).
    image = grey([[255, 10, 20, 255], [255, 30, 40, 255]])
    assert source_rect(4, 2, 1, 1, "crop") == (1.0, 0.0, 2.0, 2.0)
    np.testing.assert_allclose(photo_input(image, prep(1, 1, resize="crop"))[..., 0], [[25]], atol=1e-5)


def test_crop_at_a_fractional_boundary() -> None:
    # 3 wide, 1 high onto 1 x 1: the centre square is [1, 2) ... exactly pixel 1; 1 wide 4 high onto 2 x 1
    # (aspect 0.5): rows [0.5, 2.5) ... quarter rows at each end.
    np.testing.assert_allclose(
        photo_input(grey([[0, 99, 0]]), prep(1, 1, resize="crop"))[..., 0], [[99]], atol=1e-5
    )
    assert source_rect(1, 4, 1, 2, "crop") == (0.0, 1.0, 1.0, 2.0)
    assert source_rect(5, 1, 2, 1, "crop") == (1.5, 0.0, 2.0, 1.0)
    out = photo_input(grey([[0, 100, 200, 40, 0]]), prep(1, 2, resize="crop"))[..., 0]
    np.testing.assert_allclose(out, [[0.5 * 100 + 0.5 * 200, 0.5 * 200 + 0.5 * 40]], atol=1e-5)


def test_pad_fits_the_whole_image_and_fills_with_black() -> None:
    # 2 wide, 1 high onto 2 x 2: the image fills the middle row band [0.5, 1.5) of the output.
    image = grey([[100, 200]])
    assert source_rect(2, 1, 2, 2, "pad") == (0.0, -0.5, 2.0, 2.0)
    out = photo_input(image, prep(2, 2, resize="pad"))[..., 0]
    np.testing.assert_allclose(out, [[50, 100], [50, 100]], atol=1e-5)


def test_pad_of_a_white_photo_leaves_black_bars_before_normalisation() -> None:
    image = np.full((2, 6, 3), 255, dtype=np.uint8)
    out = photo_input(image, prep(6, 6, resize="pad", range=[-1, 1]))[..., 0]
    np.testing.assert_allclose(out[:2], -1, atol=1e-6)
    np.testing.assert_allclose(out[2:4], 1, atol=1e-6)
    np.testing.assert_allclose(out[4:], -1, atol=1e-6)


def test_box_weights_sum_to_one_inside_the_image() -> None:
    weights = box_weights(640, 0.0, 640.0, 32)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-12)
    assert np.count_nonzero(weights[0]) == 20


def test_colour_orders_and_gray() -> None:
    image = rgb([[[200, 100, 50]]])
    np.testing.assert_allclose(photo_input(image, prep(1, 1, color="rgb")), [[[200, 100, 50]]])
    np.testing.assert_allclose(photo_input(image, prep(1, 1, color="bgr")), [[[50, 100, 200]]])
    gray = 0.299 * 200 + 0.587 * 100 + 0.114 * 50
    np.testing.assert_allclose(photo_input(image, prep(1, 1, color="gray")), [[[gray] * 3]], rtol=1e-6)
    np.testing.assert_allclose(photo_input(image, prep(1, 1, channels=1)), [[[gray]]], rtol=1e-6)


def test_range_maps_0_255_onto_lo_hi() -> None:
    image = grey([[0, 51, 255]])
    out = photo_input(image, prep(1, 3, range=[-1, 1]))[..., 0]
    np.testing.assert_allclose(out, [[-1, -1 + 2 * 51 / 255, 1]], atol=1e-6)


def test_mean_and_std_per_channel_after_the_range() -> None:
    image = rgb([[[255, 0, 51]]])
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    out = photo_input(image, prep(1, 1, range=[0, 1], mean=mean, std=std))
    expected = [(1 - mean[0]) / std[0], (0 - mean[1]) / std[1], (0.2 - mean[2]) / std[2]]
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


def test_caffe_style_mean_is_in_bgr_order() -> None:
    image = rgb([[[10, 20, 30]]])
    out = photo_input(image, prep(1, 1, color="bgr", mean=[103.939, 116.779, 123.68]))
    np.testing.assert_allclose(out[0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)


def test_alpha_is_composited_on_white() -> None:
    image = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [100, 0, 0, 51]]], dtype=np.uint8)
    out = photo_input(image, prep(1, 3))
    np.testing.assert_allclose(out[0, :, 0], [255, 0, 100 * 0.2 + 255 * 0.8], atol=1e-4)


def test_old_manifest_defaults() -> None:
    # Written before color/resize/mean/std: rgb (gray for 1 channel), stretch, no mean/std.
    old = {"kind": "image", "height": 8, "width": 8, "channels": 3, "range": [0, 1], "ink": "high"}
    assert spec_of(old) == {"height": 8, "width": 8, "channels": 3, "color": "rgb", "resize": "stretch",
                            "range": [0.0, 1.0], "mean": None, "std": None}  # fmt: skip
    assert spec_of({**old, "channels": 1})["color"] == "gray"


def test_unknown_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="resize must be one of stretch, crop, pad, not 'fill'"):
        photo_input(grey([[0]]), prep(1, 1, resize="fill"))
    with pytest.raises(ValueError, match="color must be one of rgb, bgr, gray, not 'hsv'"):
        photo_input(grey([[0]]), prep(1, 1, color="hsv"))


def _flower() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image("flower.jpg"), dtype=np.uint8)


def _cases() -> list[tuple[str, np.ndarray, dict[str, object]]]:
    rng = np.random.default_rng(14)
    noise = rng.integers(0, 256, (61, 97, 3), dtype=np.uint8)
    tall = rng.integers(0, 256, (50, 23, 3), dtype=np.uint8)
    tiny = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (19, 31, 4), dtype=np.uint8)
    flower = _flower()
    torch: dict[str, Any] = {"range": [0, 1], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    cases: list[tuple[str, np.ndarray, dict[str, object]]] = []
    for resize in ("stretch", "crop", "pad"):
        cases += [
            (f"noise {resize} [-1,1]", noise, prep(32, 32, resize=resize, range=[-1, 1])),
            (f"tall {resize} 24x40 [0,1]", tall, prep(24, 40, resize=resize, range=[0, 1])),
            (f"tiny {resize} upscale", tiny, prep(16, 13, resize=resize, range=[0, 1])),
            (f"rgba {resize} gray", rgba, prep(9, 9, channels=1, resize=resize, range=[0, 1])),
            (f"flower {resize} torch", flower, prep(32, 32, resize=resize, **torch)),
        ]
    cases += [
        ("flower caffe bgr", flower, prep(28, 36, color="bgr", mean=[103.939, 116.779, 123.68])),
        ("noise gray in 3", noise, prep(10, 10, color="gray", range=[-1, 1])),
        ("old manifest", noise, {"kind": "image", "height": 8, "width": 8, "channels": 3, "range": [0, 1]}),
    ]
    return cases


def _as_rgba(image: np.ndarray) -> np.ndarray:
    if image.shape[2] == 4:
        return image
    return np.concatenate([image, np.full((*image.shape[:2], 1), 255, dtype=np.uint8)], axis=2)


def _case(image: np.ndarray, spec: dict[str, object]) -> dict[str, object]:
    rgba = base64.b64encode(_as_rgba(image).tobytes()).decode()
    return {"rgba": rgba, "width": image.shape[1], "height": image.shape[0], "prep": spec}


@pytest.mark.skipif(NODE is None, reason="node is needed to run the browser app's preprocess.js")
def test_the_browser_matches_the_reference() -> None:
    cases = _cases()
    payload = {"cases": [_case(image, spec) for _, image, spec in cases]}
    result = subprocess.run(
        [str(NODE), str(REPO / "tests" / "photo_input.mjs")],
        input=json.dumps(payload), capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout)["outputs"]
    worst = {}
    for (name, image, spec), encoded in zip(cases, outputs, strict=True):
        expected = photo_input(image, spec)
        browser = np.frombuffer(base64.b64decode(encoded), "<f4").reshape(expected.shape)
        # 1e-6, relative to the values' size (a float32 near 255 is only exact to 1.5e-5).
        scale = max(1.0, float(np.abs(expected).max()))
        worst[name] = float(np.abs(browser - expected).max())
        assert worst[name] <= 1e-6 * scale, (name, worst[name])
    print("max abs diff per case:", json.dumps(worst))
