"""POST /api/models/<id>/finetuned: a browser-fine-tuned model comes back as a new, validated export.

A real tiny export is made once per module; each test copies it into its own folder of exports. Uploads are
built as the browser builds them (docs/FINETUNE_API.md): the export's tfjs-fp32 weights as @tensorflow/tfjs
loads them (node), perturbed as fine-tuning would, the topology in the form @tensorflow/tfjs 4.22
saves it, the weight data concatenated float32. Only the valid uploads reach the exporter.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from models import CLASSES, keras3_functional, quadrant_data, write_data
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from exporter.pipeline import ExportOptions, export
from exporter.tflite_runtime import TfliteRunner
from webapp import create_app

LABELS = ["top-left", "top-right", "bottom-left", "bottom-right"]
URL = "/api/models/demo/finetuned"
BOUNDARY = "edgeship-test-boundary"


@pytest.fixture(scope="module")
def base_export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finetune-base")
    data = write_data(folder)
    options = ExportOptions(
        model=keras3_functional(folder / "model.keras"),
        out=folder / "demo",
        calibration=data["calibration"],
        variants=["tflite-fp32", "tfjs-fp32"],
        labels=LABELS,
        quiet=True,
    )
    export(options)
    return folder / "demo"


@pytest.fixture
def root(tmp_path: Path, base_export: Path) -> Path:
    """A folder of exports holding the base export as `demo`."""
    shutil.copytree(base_export, tmp_path / "exports" / "demo")
    return tmp_path / "exports"


class BufferedClient(FlaskClient):
    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_app(exports_dir: Path, **config: Any) -> Flask:
    app = create_app({"TESTING": True, "EXPORTS_DIR": exports_dir, **config})
    app.test_client_class = BufferedClient
    return app


@pytest.fixture
def client(root: Path) -> FlaskClient:
    return make_app(root).test_client()


# --- uploads, as the browser makes them --------------------------------------------------------------------


@dataclass
class Parts:
    """The three parts of an upload; `model` stays a dict (or raw bytes) until it is posted."""

    model: Any
    weights: bytes
    samples: bytes

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        model = self.model if isinstance(self.model, bytes) else json.dumps(self.model)
        return (
            f"Parts(model={model[:300]!r}..., weights={len(self.weights)} B, samples={len(self.samples)} B)"
        )

    def copy(self) -> Parts:
        return Parts(copy.deepcopy(self.model), self.weights, self.samples)


TFJS_LEAVES_OUT = ("dtype", "groups", "negative_slope", "threshold", "ragged", "depth_multiplier", "keepdims")


def tfjs_saved_topology(topology: dict, head: str) -> dict:
    """The topology in the form `model.save()` of @tensorflow/tfjs 4.22 writes it (seen with node, see FINETUNE_API).

    tfjs leaves out `dtype`, `groups`, ReLU's `negative_slope`/`threshold`, InputLayer's `ragged` and
    SeparableConv2D's `depth_multiplier` (1 here), writes
    GlorotUniform as VarianceScaling, and names itself as the Keras version; the base layers are frozen.
    """
    saved = copy.deepcopy(topology)
    saved.update(keras_version="tfjs-layers 4.22.0", backend="tensor_flow.js")
    saved["config"].pop("trainable", None)
    for layer in saved["config"]["layers"]:
        config = layer["config"]
        for key in TFJS_LEAVES_OUT:
            config.pop(key, None)
        for key, value in config.items():
            if isinstance(value, dict) and value.get("class_name") == "GlorotUniform":
                config[key] = {
                    "class_name": "VarianceScaling",
                    "config": {"scale": 1, "mode": "fan_avg", "distribution": "uniform", "seed": None},
                }
        if layer["class_name"] != "InputLayer":
            config["trainable"] = layer["name"] == head
    return saved


def fine_tuned_weights(base: Path, extra_class: bool, seed: int) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """The base tfjs-fp32 topology and weights, perturbed as fine-tuning would (and with a grown head)."""
    from tfjs_node import read_tfjs_weights

    entry = json.loads((base / "manifest.json").read_text())["variants"]["tfjs-fp32"]["entry"]
    model_json = json.loads((base / entry).read_text())
    rng = np.random.default_rng(seed)
    weights = []
    for name, read in read_tfjs_weights(base / entry).items():
        value = np.asarray(read, dtype=np.float32)
        value = value + rng.normal(0.0, 0.01 * (float(value.std()) + 1e-3), value.shape).astype(np.float32)
        if extra_class and name == "classes/kernel":
            value = np.concatenate([value, rng.normal(0.0, 0.05, (value.shape[0], 1))], axis=1)
        if extra_class and name == "classes/bias":
            value = np.concatenate([value, [-1.0]])
        weights.append((name, value.astype(np.float32)))
    topology = model_json["modelTopology"]
    if extra_class:
        topology["config"]["layers"][-1]["config"]["units"] = CLASSES + 1
    # tfjs saves trainable weights first: the head, then the frozen base.
    weights.sort(key=lambda item: not item[0].startswith("classes/"))
    return tfjs_saved_topology(topology, "classes"), weights


def browser_upload(base: Path, *, extra_class: bool = False, n: int = 200, seed: int = 0) -> Parts:
    topology, weights = fine_tuned_weights(base, extra_class, seed)
    samples, _ = quadrant_data(n, seed=10 + seed)
    model = {
        "format": "layers-model",
        "generatedBy": "TensorFlow.js tfjs-layers v4.22.0",
        "convertedBy": None,
        "modelTopology": topology,
        "weightSpecs": [
            {"name": name, "shape": list(value.shape), "dtype": "float32"} for name, value in weights
        ],
        "name": "quadrants, fine-tuned",
        "samples": {"shape": list(samples.shape)},
    }
    if extra_class:
        model["labels"] = [*LABELS, "centre"]
    weight_data = b"".join(value.astype("<f4").tobytes() for _, value in weights)
    return Parts(model, weight_data, samples.astype("<f4").tobytes())


def multipart(parts: Parts, omit: tuple[str, ...] = ()) -> bytes:
    model = parts.model if isinstance(parts.model, bytes) else json.dumps(parts.model).encode()
    files = {
        "model": (model, "model.json", "application/json"),
        "weights": (parts.weights, "blob", "application/octet-stream"),
        "samples": (parts.samples, "blob", "application/octet-stream"),
    }
    values = {
        name: FileStorage(io.BytesIO(data), filename=filename, content_type=mimetype)
        for name, (data, filename, mimetype) in files.items()
        if name not in omit
    }
    return encode_multipart(values, boundary=BOUNDARY)[1]


def post(client: FlaskClient, parts: Parts, url: str = URL, omit: tuple[str, ...] = ()):
    body = multipart(parts, omit)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under the served folder (hidden ones included) with its size and mtime."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
    }


def reference_model(parts: Parts) -> Any:
    """The uploaded model rebuilt independently of the server: its topology and its weights by name."""
    import tf_keras

    model = tf_keras.models.model_from_json(json.dumps(parts.model["modelTopology"]))
    values = np.frombuffer(parts.weights, dtype="<f4")
    by_name, offset = {}, 0
    for spec in parts.model["weightSpecs"]:
        count = int(np.prod(spec["shape"]))
        by_name[spec["name"]] = values[offset : offset + count].reshape(spec["shape"])
        offset += count
    for layer in model.layers:
        layer.set_weights(
            [by_name[f"{layer.name}/{w.name.split('/')[-1].split(':')[0]}"] for w in layer.weights]
        )
    return model


# --- accepted uploads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra_class", [False, True], ids=["same-head", "one-more-class"])
def test_a_fine_tuned_model_comes_back_as_a_validated_tflite_ladder(client, root, base_export, extra_class):
    parts = browser_upload(base_export, extra_class=extra_class)
    response = post(client, parts)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    new_id = body["id"]
    assert new_id.startswith("demo-ft-") and (root / new_id / "manifest.json").is_file()
    assert response.headers["Location"] == f"/models/{new_id}/manifest.json"
    manifest = body["manifest"]
    assert {"tflite-fp32", "tflite-dynamic-int8", "tflite-int8"} <= set(manifest["variants"])
    assert manifest["name"] == "quadrants, fine-tuned"
    assert manifest["labels"] == ([*LABELS, "centre"] if extra_class else LABELS)
    assert manifest["output"]["shape"] == [None, CLASSES + extra_class]
    assert [row["variant"] for row in body["report"]["rows"]] == list(manifest["variants"])

    x = np.frombuffer(parts.samples, dtype="<f4").reshape(parts.model["samples"]["shape"])
    held_out, _ = quadrant_data(300, seed=99)
    expected = reference_model(parts)
    fp32 = TfliteRunner((root / new_id / manifest["variants"]["tflite-fp32"]["entry"]).read_bytes())
    assert np.max(np.abs(fp32.predict(x) - expected.predict(x, verbose=0))) <= 1e-4
    int8 = TfliteRunner((root / new_id / manifest["variants"]["tflite-int8"]["entry"]).read_bytes())
    agreement = np.mean(int8.predict(held_out).argmax(1) == expected.predict(held_out, verbose=0).argmax(1))
    assert agreement >= 0.98

    listed = client.get("/api/models").get_json()["models"]
    assert [m["id"] for m in listed] == ["demo", new_id]
    assert set(body["files"]) == set(manifest["variants"])
    for variant, url in body["files"].items():
        download = client.get(url)
        assert download.status_code == 200
        assert download.data == (root / new_id / manifest["variants"][variant]["entry"]).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["demo", new_id]  # no staging, lock or temp files


# --- refused uploads ---------------------------------------------------------------------------------------


def _layers(parts: Parts) -> list[dict]:
    return parts.model["modelTopology"]["config"]["layers"]


def _layer(parts: Parts, name: str) -> dict:
    return next(layer for layer in _layers(parts) if layer["name"] == name)


def _spec(parts: Parts, name: str) -> dict:
    return next(spec for spec in parts.model["weightSpecs"] if spec["name"] == name)


def _drop_weight(parts: Parts, name: str) -> None:
    """Remove a weight from the specs and its bytes from the weight data."""
    offset = 0
    for index, spec in enumerate(parts.model["weightSpecs"]):
        size = 4 * int(np.prod(spec["shape"]))
        if spec["name"] == name:
            parts.weights = parts.weights[:offset] + parts.weights[offset + size :]
            del parts.model["weightSpecs"][index]
            return
        offset += size


def _samples(parts: Parts, n: int, fill: float = 0.5) -> None:
    parts.model["samples"]["shape"] = [n, 8, 8, 1]
    parts.samples = np.full((n, 8, 8, 1), fill, dtype="<f4").tobytes()


def _set(path: str, value: Any):
    """A mutation setting the model JSON field at a dotted path (list indices as numbers)."""

    def mutate(parts: Parts) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = parts.model
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _do(*steps):
    def mutate(parts: Parts) -> None:
        for step in steps:
            step(parts)

    return mutate


def _insert_dropout(parts: Parts) -> None:
    layer = {"class_name": "Dropout", "name": "dropout", "config": {"name": "dropout", "rate": 0.5}}
    layer["inbound_nodes"] = [[["flatten", 0, 0, {}]]]
    _layers(parts).insert(-1, layer)
    _layer(parts, "classes")["inbound_nodes"] = [[["dropout", 0, 0, {}]]]


BAD_UPLOADS = {
    "missing-part": (
        lambda parts: None,
        ("weights",),
        400,
        "missing part(s) weights; send multipart/form-data with the parts model (JSON), weights and samples (binary)",
    ),
    "model-not-json": (
        lambda parts: setattr(parts, "model", b"{'format': 'layers-model'}"),
        (),
        400,
        "model: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)",
    ),
    "model-not-an-object": (
        lambda parts: setattr(parts, "model", b"[1, 2]"),
        (),
        400,
        "model: expected a JSON object, got a list",
    ),
    "wrong-format": (
        _set("format", "graph-model"),
        (),
        400,
        "model.format is 'graph-model'; expected 'layers-model'",
    ),
    "unknown-key": (_set("label", ["a"]), (), 400, "model: unknown key(s) 'label'"),
    "extra-layer": (
        _insert_dropout,
        (),
        400,
        "modelTopology: 10 layers; the base model has 9 (extra 'dropout')",
    ),
    "changed-kernel-size": (
        _set("modelTopology.config.layers.1.config.kernel_size", [5, 5]),
        (),
        400,
        "modelTopology: layer 'conv' (Conv2D): kernel_size is [5, 5]; the base model has [3, 3]",
    ),
    "changed-activation": (
        _set("modelTopology.config.layers.8.config.activation", "sigmoid"),
        (),
        400,
        "modelTopology: layer 'classes' (Dense): activation is 'sigmoid'; the base model has 'softmax'",
    ),
    "rewired-layer": (
        _set("modelTopology.config.layers.6.inbound_nodes", [[["relu", 0, 0, {}]]]),
        (),
        400,
        'modelTopology: layer \'quadrants\' (AveragePooling2D) takes its inputs from [[["relu", 0, 0, {}]]]; the base model from [[["residual", 0, 0, {}]]]',
    ),
    "head-shrunk": (
        _set("modelTopology.config.layers.8.config.units", 3),
        (),
        400,
        "modelTopology: layer 'classes' (Dense) has units=3; the head may only keep or grow its 4 units (at most 10000)",
    ),
    "unknown-weight-name": (
        lambda parts: _spec(parts, "conv/bias").update(name="conv/beta"),
        (),
        400,
        "weightSpecs: unknown weight 'conv/beta' (the base model has no such weight); weightSpecs: missing weight(s) 'conv/bias'",
    ),
    "missing-weight": (
        lambda parts: _drop_weight(parts, "sep/bias"),
        (),
        400,
        "weightSpecs: missing weight(s) 'sep/bias'",
    ),
    "duplicate-weight": (
        lambda parts: parts.model["weightSpecs"].append(dict(_spec(parts, "conv/bias"))),
        (),
        400,
        "weightSpecs: weight 'conv/bias' appears more than once",
    ),
    "shape-mismatch": (
        lambda parts: _spec(parts, "conv/kernel").update(shape=[3, 3, 8, 1]),
        (),
        400,
        "weightSpecs: 'conv/kernel' has shape [3, 3, 8, 1]; the model needs [3, 3, 1, 8]",
    ),
    "dtype-not-float32": (
        lambda parts: _spec(parts, "conv/bias").update(dtype="int32"),
        (),
        400,
        "model.weightSpecs[3] ('conv/bias').dtype is 'int32'; every weight must be float32",
    ),
    "quantized-weight": (
        lambda parts: _spec(parts, "conv/bias").update(quantization={"dtype": "uint8", "scale": 1, "min": 0}),
        (),
        400,
        "model.weightSpecs[3] ('conv/bias') is quantized; save the fine-tuned model without quantization",
    ),
    "weight-data-short": (
        lambda parts: setattr(parts, "weights", parts.weights[:-4]),
        (),
        400,
        "weights: 1,420 bytes, but weightSpecs describe 1,424 (356 float32 values)",
    ),
    "weights-nan": (
        lambda parts: setattr(parts, "weights", np.float32(np.nan).tobytes() + parts.weights[4:]),
        (),
        400,
        "weights: 'classes/kernel' hold NaN or Inf values; the model is broken",
    ),
    "samples-shape-mismatch": (
        _set("samples.shape", [50, 8, 8, 4]),
        (),
        400,
        "samples: shape [50, 8, 8, 4] does not fit the model input [n, 8, 8, 1]",
    ),
    "samples-byte-count": (
        lambda parts: setattr(parts, "samples", parts.samples[:-4]),
        (),
        400,
        "samples: 51,196 bytes, but shape [200, 8, 8, 1] needs 51,200 (float32)",
    ),
    "samples-nan": (
        lambda parts: _samples(parts, 10, fill=np.nan),
        (),
        400,
        "samples: NaN or Inf values; send finite float32 inputs",
    ),
    "zero-samples": (lambda parts: _samples(parts, 0), (), 400, "samples: 0 samples; send 1 to 2000"),
    "too-many-samples": (
        lambda parts: _samples(parts, 2001),
        (),
        400,
        "samples: 2,001 samples; send 1 to 2000",
    ),
    "labels-count": (
        _set("labels", ["a", "b"]),
        (),
        400,
        "model.labels has 2 labels; the model has 4 classes",
    ),
    "several-problems-at-once": (
        _do(_set("format", "graph"), _set("samples", [3])),
        (),
        400,
        "model.format is 'graph'; expected 'layers-model'; model.samples must be {\"shape\": [n, ...]} with whole numbers >= 0",
    ),
    "oversized": (
        lambda parts: setattr(parts, "weights", bytes(2_000_000)),
        (),
        413,
        "upload too large: 2,055,588 bytes; the limit for fine-tuning this model is 1,637,504 bytes",
    ),
}


@pytest.mark.parametrize(
    ("mutate", "omit", "status", "message"), BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys()
)
def test_a_bad_upload_is_refused_and_writes_nothing(client, root, base_export, mutate, omit, status, message):
    parts = browser_upload(base_export)
    mutate(parts)
    before = snapshot(root)
    response = post(client, parts, omit=omit)
    assert (response.status_code, response.get_json()) == (status, {"error": message})
    assert snapshot(root) == before


def test_an_unknown_base_is_404_and_writes_nothing(client, root, base_export):
    before = snapshot(root)
    response = post(client, browser_upload(base_export), url="/api/models/nope/finetuned")
    assert (response.status_code, response.get_json()) == (404, {"error": "no export with this id"})
    assert snapshot(root) == before


def test_a_body_over_max_content_length_is_413(root, base_export):
    client = make_app(root, MAX_CONTENT_LENGTH=10_000).test_client()
    response = post(client, browser_upload(base_export))
    assert (response.status_code, response.get_json()) == (413, {"error": "request body too large"})


def test_a_streamed_body_over_the_limit_is_413_without_a_content_length(client, root, base_export):
    parts = browser_upload(base_export)
    parts.weights = bytes(2_000_000)
    before = snapshot(root)
    response = client.post(
        URL,
        input_stream=io.BytesIO(multipart(parts)),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        # A chunked request, as a WSGI server passes it on: no Content-Length, the stream ends by itself.
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "upload too large: 2,055,157 bytes; the limit for fine-tuning this model is 1,637,504 bytes"
    }
    assert snapshot(root) == before


def test_serving_a_single_export_folder_has_no_room_for_a_fine_tuned_one(root, base_export):
    client = make_app(root / "demo").test_client()
    before = snapshot(root)
    response = post(client, browser_upload(base_export))
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "the server serves a single export folder, so there is no place to store a fine-tuned model "
        "beside it; serve the folder that holds the export folders instead"
    }
    assert snapshot(root) == before


# --- generated uploads -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
MODEL_PATHS = [
    "format",
    "modelTopology",
    "modelTopology.class_name",
    "modelTopology.config",
    "modelTopology.config.layers",
    "modelTopology.config.layers.0",
    "modelTopology.config.layers.1.config.kernel_size",
    "modelTopology.config.layers.1.config.strides",
    "modelTopology.config.layers.5.inbound_nodes",
    "modelTopology.config.layers.8.config.units",
    "modelTopology.config.output_layers",
    "weightSpecs",
    "weightSpecs.0",
    "weightSpecs.0.name",
    "weightSpecs.0.shape",
    "weightSpecs.2.dtype",
    "samples",
    "samples.shape",
    "samples.shape.0",
    "samples.shape.1",
    "labels",
    "name",
]


class Accepted(Exception):
    """Raised in place of the exporter: the generated upload passed every check."""


@st.composite
def generated_uploads(draw, valid: Parts) -> tuple[Parts, tuple[str, ...]]:
    parts, omit = valid.copy(), ()
    kind = draw(st.sampled_from(["bytes", "field", "truncate", "extend", "shape", "omit"]))
    if kind == "bytes":
        name = draw(st.sampled_from(["model", "weights", "samples"]))
        setattr(parts, name, draw(st.binary(max_size=3000)))
    elif kind == "field":
        for _ in range(draw(st.integers(1, 3))):
            with contextlib.suppress(TypeError, KeyError, IndexError):  # an earlier change removed the path
                _set(draw(st.sampled_from(MODEL_PATHS)), draw(json_values))(parts)
    elif kind == "truncate":
        name = draw(st.sampled_from(["weights", "samples"]))
        data = getattr(parts, name)
        setattr(parts, name, data[: draw(st.integers(0, len(data) - 1))])
    elif kind == "extend":
        name = draw(st.sampled_from(["weights", "samples"]))
        setattr(parts, name, getattr(parts, name) + draw(st.binary(min_size=1, max_size=64)))
    elif kind == "shape":
        spec = draw(st.sampled_from(parts.model["weightSpecs"]))
        spec["shape"] = draw(st.lists(st.integers(0, 40), max_size=5))
    else:
        omit = tuple(draw(st.sets(st.sampled_from(["model", "weights", "samples"]), min_size=1)))
    return parts, omit


def test_generated_uploads_are_refused_cleanly_and_write_nothing(client, root, base_export):
    valid = browser_upload(base_export, n=20)
    outcomes: list[int] = []

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(generated_uploads(valid))
    def check(upload: tuple[Parts, tuple[str, ...]]) -> None:
        parts, omit = upload
        before = snapshot(root)
        try:
            response = post(client, parts, omit=omit)
        except Accepted:
            outcomes.append(201)
            return
        assert response.status_code in (400, 413), response.get_json()
        message = response.get_json()["error"]
        assert message and "Traceback" not in message and str(root) not in message
        assert snapshot(root) == before
        outcomes.append(response.status_code)

    with mock.patch("webapp.finetune.export_finetuned", side_effect=Accepted):
        check()
    assert 400 in outcomes
