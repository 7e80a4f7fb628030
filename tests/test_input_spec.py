"""The input spec as data (exporter/input_spec.py) and the labels (exporter/labels.py): each source of the
spec on tiny real models, one real keras.applications model, the CLI's flags and their exact error lines,
and what the manifest, report.json and the printed report then hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exporter.errors import DataError
from exporter.input_spec import InputRequest, check_request, input_spec
from exporter.labels import LABELS_FILE_BYTES, check_count, read_labels
from webapp.manifest_shape import manifest_problem

EDGESHIP = [sys.executable, "-m", "edgeship"]
NO_REQUEST = InputRequest()


def spec_of(model, request=NO_REQUEST, data=None):
    return input_spec(request, (None, *model.input_shape[1:]), model, data)


def image(height, width, channels, **fields):
    """The spec of an image input with the defaults a photo gets, changed by `fields`."""
    return {
        "kind": "image", "height": height, "width": width, "channels": channels, "range": [0.0, 1.0],
        "mean": None, "std": None, "color": "rgb" if channels == 3 else "gray", "resize": "crop",
        "ink": None, "source": "default", **fields,
    }  # fmt: skip


@pytest.fixture(scope="module")
def keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def shown(values):
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def plain(keras, shape=(8, 8, 3), *front, name=None):
    """Input, the `front` layers, Flatten, a softmax over 3 classes."""
    layers = [keras.Input(shape), *front, keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    return keras.Sequential(layers, name=name)


# ---------------------------------------------------------------------------------------------------------
# Sources, in order: the user, the model's own layers, keras.applications, the data, the default.


def test_the_users_options_win_over_everything(keras):
    model = plain(keras, (8, 8, 3), keras.layers.Rescaling(1 / 255))
    request = InputRequest(input_range="-1,1", mean="0.5,0.5,0.5", std=[0.25, 0.25, 0.25], color="bgr")
    spec = spec_of(model, request, data=("eval", (0.0, 255.0)))
    assert spec.preprocessing == image(
        8, 8, 3, range=[-1.0, 1.0], mean=[0.5] * 3, std=[0.25] * 3, color="bgr", source="user"
    )
    assert spec.summary() == (
        "8x8 bgr, range [-1, 1], mean [0.5, 0.5, 0.5], std [0.25, 0.25, 0.25], resize crop (from user)"
    )
    # A resize or a channel order alone changes no values: the rest is still inferred.
    resized = spec_of(model, InputRequest(resize="pad", color="bgr")).preprocessing
    assert resized == image(8, 8, 3, range=[0.0, 255.0], color="bgr", resize="pad", source="model")


@pytest.mark.parametrize(
    ("front", "expected_range", "detail"),
    [
        ("rescale_255", [0.0, 255.0], "rescaling maps 0..255 to [0, 1]"),
        ("rescale_tf", [0.0, 255.0], "rescaling maps 0..255 to [-1, 1]"),
        ("rescale_then_imagenet", [0.0, 255.0], "rescaling, normalization maps 0..255 to [-2.12, 2.64]"),
        ("imagenet_255", [0.0, 255.0], "normalization maps 0..255 to [-2.12, 2.64]"),
        ("unit_to_tf", [0.0, 1.0], "rescaling maps 0..1 to [-1, 1]"),
        ("adapted_on_unit", [0.0, 1.0], "normalization maps 0..1 to [-1.74, 1.75]"),
    ],
)
def test_leading_rescaling_or_normalization_says_what_the_model_takes(keras, front, expected_range, detail):
    mean, variance = [0.485, 0.456, 0.406], [0.229**2, 0.224**2, 0.225**2]
    adapted = keras.layers.Normalization()
    adapted.adapt(np.random.default_rng(0).random((64, 8, 8, 3)).astype("float32"))
    layers = {
        "rescale_255": [keras.layers.Rescaling(1 / 255)],
        "rescale_tf": [keras.layers.Rescaling(1 / 127.5, offset=-1)],
        "rescale_then_imagenet": [
            keras.layers.Rescaling(1 / 255),
            keras.layers.Normalization(mean=mean, variance=variance),
        ],
        "imagenet_255": [  # ConvNeXt's PreStem
            keras.layers.Normalization(mean=[m * 255 for m in mean], variance=[v * 255**2 for v in variance])
        ],
        "unit_to_tf": [keras.layers.Rescaling(2.0, offset=-1)],  # wants [0, 1] pixels, not 0..255
        "adapted_on_unit": [adapted],
    }[front]
    spec = spec_of(plain(keras, (8, 8, 3), *layers), data=("eval", (-3.0, 3.0)))
    assert spec.preprocessing == image(8, 8, 3, range=expected_range, source="model")
    assert spec.detail == detail
    assert spec.summary() == f"8x8 rgb, range {shown(expected_range)}, resize crop (from model: {detail})"


def test_a_tf_keras_model_and_a_nested_base_model_speak_too(keras):
    import tf_keras

    tfk = tf_keras.Sequential(
        [tf_keras.layers.InputLayer((8, 8, 3)), tf_keras.layers.Rescaling(1 / 127.5, offset=-1),
         tf_keras.layers.Flatten(), tf_keras.layers.Dense(3)]
    )  # fmt: skip
    assert spec_of(tfk).preprocessing["source"] == "model"
    base = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(2, 3)]
    )
    wrapped = plain(keras, (8, 8, 3), base)
    assert spec_of(wrapped).preprocessing == image(8, 8, 3, range=[0.0, 255.0], source="model")
    # Keras' tutorials: augmentation (the identity at inference), then the scaling.
    augment = keras.Sequential([keras.layers.RandomFlip(), keras.layers.RandomRotation(0.1)])
    tutorial = plain(keras, (8, 8, 3), augment, keras.layers.Rescaling(1 / 255))
    assert spec_of(tutorial).preprocessing == image(8, 8, 3, range=[0.0, 255.0], source="model")
    # Not the scaling of the model's input: a Rescaling after a convolution says nothing.
    late = plain(keras, (8, 8, 3), keras.layers.Conv2D(2, 3), keras.layers.Rescaling(1 / 255))
    assert spec_of(late).preprocessing["source"] == "default"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet50", {"range": [0.0, 255.0], "mean": [103.939, 116.779, 123.68], "color": "bgr"}),
        ("vgg16", {"range": [0.0, 255.0], "mean": [103.939, 116.779, 123.68], "color": "bgr"}),
        ("densenet121", {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}),
        ("resnet50v2", {"range": [-1.0, 1.0]}),
        ("xception", {"range": [-1.0, 1.0]}),
        # tf-keras' name for MobileNetV3Small; without its own Rescaling (include_preprocessing=False):
        ("MobilenetV3small", {"range": [-1.0, 1.0]}),
    ],
)
def test_keras_applications_names_give_their_convention(keras, name, expected):
    mode = {"bgr": "caffe"}.get(expected.get("color", ""), "torch" if "std" in expected else "tf")
    spec = spec_of(plain(keras, (8, 8, 3), name=name), data=("eval", (0.0, 1.0)))
    assert spec.preprocessing == image(8, 8, 3, **expected, source=f"keras.applications:{mode}")


def test_a_real_mobilenetv2_at_32x32_and_a_model_rebuilt_from_its_layers(keras):
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    spec = spec_of(base, data=("eval", (0.0, 1.0)))
    assert spec.preprocessing == image(32, 32, 3, range=[-1.0, 1.0], source="keras.applications:tf")
    assert spec.summary() == "32x32 rgb, range [-1, 1], resize crop (from keras.applications:tf)"
    # Fine-tuned as users do: Model(base.input, a new head): no nested model, the name is "functional".
    head = keras.layers.Dense(4, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(base.layers[-3].output)
    )
    tuned = keras.Model(base.input, head)
    assert spec_of(tuned).preprocessing["source"] == "keras.applications:tf"
    # MobileNetV3 carries its own Rescaling: the model says 0..255 itself.
    v3 = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10)
    assert spec_of(v3).preprocessing == image(32, 32, 3, range=[0.0, 255.0], source="model")


@pytest.mark.parametrize(
    ("data", "expected_range", "source"),
    [
        (("eval", (-0.98, 0.99)), [-1.0, 1.0], "data"),
        (("calibration", (0.0, 255.0)), [0.0, 255.0], "data"),
        (("train", (0.0, 0.97)), [0.0, 1.0], "data"),
        (None, [0.0, 1.0], "default"),
    ],
)
def test_without_the_model_saying_it_the_data_range_decides(keras, data, expected_range, source):
    spec = spec_of(plain(keras, (8, 8, 3)), data=data)
    assert spec.preprocessing == image(8, 8, 3, range=expected_range, source=source)


@pytest.mark.parametrize(
    ("shape", "ink", "resize"),
    [((8, 8, 1), "high", "stretch"), ((64, 28, 1), "high", "stretch"), ((96, 96, 1), None, "crop")],
)
def test_ink_only_for_small_one_channel_inputs(keras, shape, ink, resize):
    spec = spec_of(plain(keras, shape)).preprocessing
    assert (spec["ink"], spec["resize"], spec["color"]) == (ink, resize, "gray")


def test_an_rgb_model_never_gets_ink_and_a_numeric_one_stays_numeric(keras):
    assert spec_of(plain(keras, (8, 8, 3))).preprocessing["ink"] is None
    numeric = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation="softmax")])
    assert spec_of(numeric).preprocessing == {"kind": "numeric", "size": 10}
    with pytest.raises(DataError) as error:
        spec_of(numeric, InputRequest(mean="0.5"))
    assert str(error.value) == (
        "mean describes image pixels, but this model's input (None, 10) is not an image (height, width and 1 "
        "or 3 channels); leave it out"
    )


def test_the_callers_own_preprocessing_is_kept_and_completed():
    demo = {"kind": "image", "height": 8, "width": 8, "channels": 1, "range": [0.0, 1.0], "ink": "high"}
    spec = input_spec(NO_REQUEST, (None, 8, 8, 1), None, None, demo).preprocessing
    assert spec == {**demo, "mean": None, "std": None, "color": "gray", "resize": "stretch", "source": "user"}


# ---------------------------------------------------------------------------------------------------------
# What the options and labels refuse, in the library's words (the CLI's are below).


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (InputRequest(input_range="1,0"), "input_range 1,0: the low end must be below the high end; give "
         "LO,HI such as 0,1 or -1,1"),
        (InputRequest(input_range="0"), "input_range 0: give two numbers, LO,HI (such as 0,1 or -1,1)"),
        (InputRequest(input_range="0,x"), "input_range 0,x: x is not a number; give comma-separated numbers, "
         "such as 0,1 or -1,1"),
        (InputRequest(mean="nan,0,0"), "mean nan,0,0: give finite numbers, not nan"),
        (InputRequest(std="0.2,0,0.2"), "std 0.2,0,0.2: every standard deviation must be above 0; give one "
         "per channel, such as 0.229,0.224,0.225"),
        (InputRequest(color="hsv"), "color hsv is not a channel order; choose from rgb, bgr, gray"),
        (InputRequest(resize="fill"), "resize fill is not a resize mode; choose from stretch, crop, pad"),
    ],
)  # fmt: skip
def test_options_refused_before_any_model_is_read(request_, message):
    with pytest.raises(DataError) as error:
        check_request(request_)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (InputRequest(mean="0.5,0.5"), "mean 0.5,0.5 has 2 value(s), but this model's input has 3 channel(s); "
         "give one per channel"),
        (InputRequest(color="gray"), "color gray is for 1-channel inputs; this model takes 3 channels: give rgb "
         "or bgr"),
    ],
)  # fmt: skip
def test_options_that_do_not_fit_the_model(keras, request_, message):
    with pytest.raises(DataError) as error:
        spec_of(plain(keras, (8, 8, 3)), request_)
    assert str(error.value) == message


def test_labels_file_lines_blank_lines_and_a_bom(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes("\ufeffcat\r\n\n  dog  \nbird\n\n".encode())
    assert read_labels(path) == ["cat", "dog", "bird"]
    check_count(["cat", "dog", "bird"], 3, path)


def test_labels_refused(tmp_path):
    def refused(given, classes=3):
        with pytest.raises(DataError) as error:
            check_count(read_labels(given), classes, given)
        return str(error.value)

    big, latin, blank, fifo = (tmp_path / name for name in ("big.txt", "latin.txt", "blank.txt", "fifo"))
    big.write_bytes(b"a\n" * (LABELS_FILE_BYTES // 2 + 1))
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    blank.write_text("\n  \n")
    os.mkfifo(fifo)  # a read would block forever
    assert refused(tmp_path / "missing.txt") == (
        f"labels {tmp_path}/missing.txt: no such file; give a text file with one label per line"
    )
    assert refused(fifo) == f"labels {fifo} is not a regular file; give a text file with one label per line"
    assert (
        refused(tmp_path)
        == f"labels {tmp_path} is not a regular file; give a text file with one label per line"
    )
    assert refused(big) == (
        f"labels {big} is 1,048,578 bytes, over the 1,048,576-byte limit for a labels file; give one short "
        "label per line"
    )
    assert refused(latin) == (
        f"labels {latin} is not UTF-8 text (byte 0xe9 at offset 3); save it as UTF-8, one label per line"
    )
    assert refused(blank) == f"labels {blank} holds no labels; give one label per line, one per class"
    assert refused(["a", "b"]) == (
        "labels holds 2 label(s), but the model has 3 classes; give one label per class, one per line, in class "
        "order"
    )
    assert refused(["a", "b\x1b[2J"]) == "labels: label 2 holds a control character; give plain text"
    assert refused(["a" * 201]).startswith("labels: label 1 has 201 characters, over the 200 allowed")
    assert refused(["a"], classes=None) == (
        "labels: the model's output has no class dimension to label; leave the labels out"
    )


# ---------------------------------------------------------------------------------------------------------
# The command line: flags, exact error lines, and what the export then holds.


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([*EDGESHIP, "export", *args], capture_output=True, text=True, env=env, timeout=300)


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line and not line.startswith("edgeship: ")]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory, keras) -> Path:
    root = tmp_path_factory.mktemp("rgb")
    plain(keras, (8, 8, 3)).save(root / "model.keras")
    (root / "labels.txt").write_text("cat\ndog\n\nbird\n")
    (root / "two.txt").write_text("cat\ndog\n")
    return root


@pytest.fixture(scope="module")
def exported(rgb_model) -> dict:
    """One real export through the CLI, with every input flag; `-1,1` given as a separate word."""
    out = rgb_model / "out"
    done = run(
        str(rgb_model / "model.keras"), "--out", str(out), "--variants", "tflite-fp32", "--labels",
        str(rgb_model / "labels.txt"), "--input-range", "-1,1", "--mean", "-0.1,0,0.1", "--std", "2,2,2",
        "--color", "bgr", "--resize", "pad",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"done": done, "out": out, "manifest": json.loads((out / "manifest.json").read_text())}


def test_the_report_shows_the_input_and_labels_above_the_table(exported):
    lines = exported["done"].stdout.splitlines()
    assert lines[:2] == [
        "input: 8x8 bgr, range [-1, 1], mean [-0.1, 0, 0.1], std [2, 2, 2], resize pad (from user)",
        "labels: 3 (cat, dog, bird)",
    ]
    assert lines[2].startswith("variant ")
    report = json.loads((exported["out"] / "report.json").read_text())
    assert report["labels"] == ["cat", "dog", "bird"]
    assert report["input"]["summary"] == lines[0].removeprefix("input: ")


def test_the_manifest_holds_the_spec_and_the_labels_file(exported):
    manifest = exported["manifest"]
    assert manifest["preprocessing"] == image(
        8, 8, 3, range=[-1.0, 1.0], mean=[-0.1, 0.0, 0.1], std=[2.0] * 3, color="bgr", resize="pad",
        source="user",
    )  # fmt: skip
    assert manifest["labels"] == ["cat", "dog", "bird"]
    assert manifest["labels_file"].startswith("labels.") and manifest["labels_file"].endswith(".txt")
    assert (exported["out"] / manifest["labels_file"]).read_text() == "cat\ndog\nbird\n"
    assert manifest_problem(manifest) is None


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--input-range", "1,-1"], "DataError: --input-range 1,-1: the low end must be below the high end; "
         "give LO,HI such as 0,1 or -1,1"),
        (["--std", "-1,1,1"], "DataError: --std -1,1,1: every standard deviation must be above 0; give one "
         "per channel, such as 0.229,0.224,0.225"),
        (["--color", "hsv"], "DataError: --color hsv is not a channel order; choose from rgb, bgr, gray"),
        (["--labels", "nowhere.txt"], "DataError: --labels nowhere.txt: no such file; give a text file with "
         "one label per line"),
    ],
)  # fmt: skip
def test_cli_errors_before_the_model_is_loaded(rgb_model, tmp_path, flags, line):
    done = run(str(rgb_model / "model.keras"), "--out", str(tmp_path / "out"), *flags)
    assert error_line(done) == line
    assert not (tmp_path / "out").exists()


def test_cli_errors_that_need_the_model(rgb_model, tmp_path):
    done = run(
        str(rgb_model / "model.keras"), "--out", str(tmp_path / "out"), "--labels",
        str(rgb_model / "two.txt"), "--mean", "0.5,0.5",
    )  # fmt: skip
    assert error_line(done) == (
        f"DataError: --labels {rgb_model}/two.txt holds 2 label(s), but the model has 3 classes; give one label "
        "per class, one per line, in class order"
    )
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------
# The server's check of the fields (a malformed one skips only its export, as for the other fields).


GOOD_IMAGE = image(32, 32, 3, range=[-1.0, 1.0], source="keras.applications:tf")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "audio"}, "preprocessing.kind must be 'image' or 'numeric'"),
        ({"height": 0}, "preprocessing.height must be a positive integer"),
        ({"channels": 4}, "preprocessing.channels must be 1 or 3"),
        ({"channels": True}, "preprocessing.channels must be 1 or 3"),
        ({"range": [1, 0]}, "preprocessing.range must be two numbers [low, high] with low < high"),
        ({"range": [0, "255"]}, "preprocessing.range must be two numbers [low, high] with low < high"),
        ({"mean": [0.5]}, "preprocessing.mean must be null or a list of 3 number(s), one per channel"),
        ({"std": [1, 0, 1]}, "preprocessing.std must be above 0 in every channel"),
        ({"color": "hsv"}, "preprocessing.color must be 'rgb', 'bgr' or 'gray'"),
        ({"color": "gray"}, "preprocessing.color must be 'gray' for 1 channel, 'rgb' or 'bgr' for 3"),
        ({"resize": "fill"}, "preprocessing.resize must be 'stretch', 'crop' or 'pad'"),
        ({"ink": "yes"}, "preprocessing.ink must be 'high', 'low' or null"),
        ({"source": 3}, "preprocessing.source must be a string"),
    ],
)
def test_manifest_shape_checks_each_preprocessing_field(change, problem):
    manifest = {"name": "x", "input": {"shape": [None, 32, 32, 3]}, "output": {"shape": [None, 10]}}
    manifest["variants"] = {}
    assert manifest_problem({**manifest, "preprocessing": GOOD_IMAGE}) is None
    assert manifest_problem({**manifest, "preprocessing": {**GOOD_IMAGE, **change}}) == problem
