"""SavedModels are programs: every attack through the real CLI in a subprocess, each with a marker file that
the attack would write and that must never appear; and the SavedModels that must keep exporting."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from models import write_data

EDGESHIP = [sys.executable, "-m", "edgeship"]
ADVICE = "edgeship runs no file, network or Python op from a model file. Export the model without it."
INPUT = [None, 8, 8, 1]


def run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [*EDGESHIP, "export", *args], capture_output=True, text=True, env=env, timeout=240
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line and not line.startswith("edgeship: ")]


def _module(tf, serve_body):
    """A tf.Module with one variable and a serving signature whose body is `serve_body(module, x)`."""

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.ones([64, 4]) / 64.0)

        @tf.function(input_signature=[tf.TensorSpec(INPUT, tf.float32, name="pixels")])
        def serve(self, x):
            return {"scores": serve_body(self, x)}

    return Model()


def _save_module(tf, path: Path, serve_body) -> Path:
    model = _module(tf, serve_body)
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return path


def _save_tf1(tf, path: Path, marker: Path, where: str) -> Path:
    """A TF1 SavedModel (Builder) whose main op, legacy init op or signature writes `marker` (or, for
    "none", one that writes nothing: only its saver's own SaveV2/RestoreV2)."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, INPUT, name="pixels")
        kernel = v1.get_variable("kernel", initializer=tf.ones([64, 4]) / 64.0)
        write = tf.io.write_file(str(marker), "pwned") if where != "none" else None
        scores = tf.matmul(tf.reshape(x, [-1, 64]), kernel)
        if where == "signature":
            with tf.control_dependencies([write]):
                scores = tf.identity(scores)
        init = tf.group(v1.global_variables_initializer(), write) if where.endswith("op") else None
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            signature = v1.saved_model.predict_signature_def({"pixels": x}, {"scores": scores})
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={"serving_default": signature},
                main_op=init if where == "main_op" else None,
                legacy_init_op=init if where == "legacy_init_op" else None,
            )
            builder.save()
    return path


def _flat(tf, module, x):
    return tf.matmul(tf.reshape(x, [-1, 64]), module.kernel)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Every SavedModel of these tests, benign and hostile, saved once; no marker may exist yet."""
    root = tmp_path_factory.mktemp("savedmodels")
    write_data(root)
    import tensorflow as tf

    _save_module(tf, root / "plain", lambda m, x: _flat(tf, m, x))

    def write_then_score(module, x):
        tf.io.write_file(str(root / "served.marker"), "pwned")
        return _flat(tf, module, x)

    _save_module(tf, root / "writes_when_served", write_then_score)

    def save_then_score(module, x):
        prefix = str(root / "saved_by_serve.marker")
        save = tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""], tensors=[x])
        with tf.control_dependencies([save]):
            return _flat(tf, module, x)

    _save_module(tf, root / "saves_when_served", save_then_score)
    _outside_path_in_restore(root / "plain", root / "restore_outside")
    for where in ("none", "main_op", "legacy_init_op", "signature"):
        _save_tf1(tf, root / f"tf1_{where}", root / f"tf1_{where}.marker", where)

    def python_then_score(module, x):
        marker = str(root / "py_function.marker")
        touched = tf.py_function(lambda: Path(marker).write_text("pwned") and 0.0, [], tf.float32)
        return _flat(tf, module, x) + tf.reshape(touched, [])

    _restore_from_a_constant(root / "tf1_none", root / "tf1_restore_elsewhere")
    _save_module(tf, root / "py_function", python_then_score)

    def assert_then_score(module, x):
        with tf.control_dependencies([tf.debugging.assert_less(x, 0.5, message="pixels must be below 0.5")]):
            return _flat(tf, module, x)

    _save_module(tf, root / "assertion", assert_then_score)
    _tf_keras_savedmodels(root)
    assert not list(root.rglob("*.marker")), "building the models must not run them"
    return root


def _outside_path_in_restore(plain: Path, path: Path) -> None:
    """A copy of `plain` whose checkpoint restore function holds the constant path /etc/passwd."""
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(plain, path)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    library = proto.meta_graphs[0].graph_def.library.function
    restore = next(f for f in library if f.signature.name.startswith("__inference__traced_restore"))
    const = node_def_pb2.NodeDef(name="outside", op="Const")
    const.attr["dtype"].type = 7  # DT_STRING
    const.attr["value"].tensor.dtype = 7
    const.attr["value"].tensor.string_val.append(b"/etc/passwd")
    restore.node_def.append(const)
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())


def _restore_from_a_constant(tf1: Path, path: Path) -> None:
    """A copy of a TF1 SavedModel whose saver restores from the relative path "secrets" (the process's
    working folder) instead of the variables path the loader feeds it."""
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(tf1, path)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    const = graph.node.add(name="elsewhere", op="Const")
    const.attr["dtype"].type = 7  # DT_STRING
    const.attr["value"].tensor.dtype = 7
    const.attr["value"].tensor.string_val.append(b"secrets")
    next(node for node in graph.node if node.op == "RestoreV2").input[0] = "elsewhere"
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())


def _tf_keras_savedmodels(root: Path) -> None:
    """A benign tf-keras SavedModel, and a copy whose Flatten layer's own metadata node is a Lambda that
    writes a marker (the root's config still lists a Flatten, as a hand-edited file would)."""
    import tf_keras
    from tf_keras.protobuf import saved_metadata_pb2

    model = tf_keras.Sequential(
        [
            tf_keras.layers.InputLayer((8, 8, 1), name="pixels"),
            tf_keras.layers.Flatten(name="flatten"),
            tf_keras.layers.Dense(4, activation="softmax", name="classes"),
        ]
    )
    model.save(root / "tf_keras_savedmodel")
    hidden = root / "tf_keras_hidden_lambda"
    shutil.copytree(root / "tf_keras_savedmodel", hidden)
    marker = root / "hidden_lambda.marker"
    source = f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('pwned'), t)[1]"
    lambda_config = tf_keras.layers.Lambda(eval(source), name="flatten").get_config()
    proto = saved_metadata_pb2.SavedMetadata()
    proto.ParseFromString((hidden / "keras_metadata.pb").read_bytes())
    node = next(n for n in proto.nodes if n.node_path == "root.layer-0")
    metadata = json.loads(node.metadata)
    assert metadata["class_name"] == "Flatten"
    metadata.update(class_name="Lambda", config=lambda_config)
    node.metadata = json.dumps(metadata)
    (hidden / "keras_metadata.pb").write_bytes(proto.SerializeToString())


def _refused(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), lines


@pytest.mark.parametrize("targets", ["tflite,tfjs", "tfjs"])
def test_serving_function_that_writes_a_file_is_refused_before_it_runs(models, tmp_path, targets):
    result = run([str(models / "writes_when_served"), "--out", str(tmp_path / "out"), "--targets", targets])
    _refused(
        result,
        r"UnsafeModelError: function '__inference_serve_\d+' calls WriteFile, which touches the file system; "
        + re.escape(ADVICE),
    )
    assert not (models / "served.marker").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["main_op", "legacy_init_op", "signature"])
def test_tf1_graph_that_writes_a_file_is_refused_before_it_loads(models, tmp_path, where):
    result = run([str(models / f"tf1_{where}"), "--out", str(tmp_path / "out")])
    _refused(
        result,
        r"UnsafeModelError: graph node 'WriteFile' runs WriteFile, which touches the file system; "
        + re.escape(ADVICE),
    )
    assert not (models / f"tf1_{where}.marker").exists()


def test_py_function_is_refused(models, tmp_path):
    result = run([str(models / "py_function"), "--out", str(tmp_path / "out")])
    _refused(
        result,
        r"UnsafeModelError: function '__inference_serve_\d+' calls EagerPyFunc, which runs Python code; "
        + re.escape(ADVICE),
    )
    assert not (models / "py_function.marker").exists()


def test_assertion_failing_on_the_validation_inputs_is_one_line(models, tmp_path):
    result = run([str(models / "assertion"), "--out", str(tmp_path / "out"), "--targets", "tflite"])
    _refused(
        result,
        re.escape(
            f"DataError: {models / 'assertion'} failed on the validation inputs (assertion failed: [pixels must be below 0.5] "
        )
        + r"[^;]*\.\.\.\); "
        + re.escape(
            "give --eval or --calibration DATA.npz with inputs the model accepts, "
            "or export the model without the check that fails"
        ),
    )


def test_tf_keras_savedmodel_exports(models, tmp_path):
    out = tmp_path / "out"
    result = run([str(models / "tf_keras_savedmodel"), "--out", str(out), "--variants", "tflite-fp32"])
    assert result.returncode == 0, result.stderr
    assert '"tflite-fp32"' in (out / "manifest.json").read_text()


def test_lambda_in_a_layer_node_of_keras_metadata_is_refused(models, tmp_path):
    result = run([str(models / "tf_keras_hidden_lambda"), "--out", str(tmp_path / "out")])
    _refused(
        result,
        re.escape(
            "UnsafeModelError: layer 'flatten' is a Lambda layer, which runs arbitrary Python code; "
            "edgeship loads models in safe mode. Replace it with built-in layers and save the model again."
        ),
    )
    assert not (models / "hidden_lambda.marker").exists()


def test_plain_savedmodel_with_a_variable_exports(models, tmp_path):
    out = tmp_path / "out"
    result = run([str(models / "plain"), "--out", str(out), "--eval", str(models / "eval.npz")])
    assert result.returncode == 0, result.stderr
    manifest = (out / "manifest.json").read_text()
    assert all(v in manifest for v in ('"tflite-fp32"', '"tflite-fp16"', '"tflite-dynamic-int8"'))


def test_checkpoint_op_in_a_serving_function_is_refused(models, tmp_path):
    result = run([str(models / "saves_when_served"), "--out", str(tmp_path / "out"), "--targets", "tflite"])
    _refused(
        result,
        r"UnsafeModelError: function '__inference_serve_\d+' calls SaveV2, which touches the file system; "
        + re.escape(ADVICE),
    )
    assert not list(models.glob("saved_by_serve*"))


def test_checkpoint_function_naming_a_path_outside_the_model_is_refused(models, tmp_path):
    result = run([str(models / "restore_outside"), "--out", str(tmp_path / "out")])
    _refused(
        result,
        r"UnsafeModelError: function '__inference__traced_restore_\d+' refers to the path '/etc/passwd', "
        + re.escape(
            "outside the model folder; edgeship reads and writes nothing outside the model folder. "
            "Save the model again with tf.saved_model.save()."
        ),
    )


def test_checkpoint_restore_from_a_path_of_the_models_choosing_is_refused(models, tmp_path):
    result = run([str(models / "tf1_restore_elsewhere"), "--out", str(tmp_path / "out")])
    _refused(
        result,
        re.escape(
            "UnsafeModelError: graph node 'save/RestoreV2' runs RestoreV2 on a path that is not the one the "
            "loader gives for the model's variables; edgeship reads and writes nothing outside the model "
            "folder. Save the model again with tf.saved_model.save()."
        ),
    )


def test_tf1_savedmodel_with_its_own_checkpoint_ops_exports(models, tmp_path):
    out = tmp_path / "out"
    result = run([str(models / "tf1_none"), "--out", str(out), "--variants", "tflite-fp32"])
    assert result.returncode == 0, result.stderr
    assert '"tflite-fp32"' in (out / "manifest.json").read_text()


def test_an_op_named_as_a_function_is_checked_like_a_node(tmp_path):
    """TensorFlow runs a plain op given where a function name is expected (PartitionedCall f=WriteFile)."""
    from tensorflow.core.protobuf import saved_model_pb2

    from exporter.errors import UnsafeModelError
    from exporter.graph_scan import scan_saved_model

    proto = saved_model_pb2.SavedModel()
    node = proto.meta_graphs.add().graph_def.node.add(name="call", op="PartitionedCall")
    node.attr["f"].func.name = "WriteFile"
    (tmp_path / "saved_model.pb").write_bytes(proto.SerializeToString())
    with pytest.raises(UnsafeModelError) as refused:
        scan_saved_model(tmp_path)
    assert str(refused.value) == f"graph node 'call' runs WriteFile, which touches the file system; {ADVICE}"


def test_every_denied_op_is_a_registered_tensorflow_op():
    from tensorflow.python.framework import op_def_registry

    from exporter.graph_scan import CHECKPOINT_OPS, DENIED_OPS

    assert [op for op in DENIED_OPS if op_def_registry.get(op) is None] == []
    assert set(DENIED_OPS) >= CHECKPOINT_OPS
