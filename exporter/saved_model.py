"""Load a SavedModel folder, plain or written by tf-keras, without letting it run anything it brought.

Before TensorFlow sees the folder, saved_model.pb is scanned for file, network and Python ops
(`graph_scan`), and a tf-keras SavedModel's keras_metadata.pb is read node by node: tf-keras revives every
layer from its own node's config, not from the root's, so each of them goes through the safe-mode scan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from exporter.errors import DataError, ModelLoadError, UnsupportedModelError
from exporter.graph_scan import scan_saved_model
from exporter.loading import LoadedModel, TensorInfo, _from_keras, _reason, _tf_keras
from exporter.safe_mode import scan_config

# keras_metadata.pb nodes that tf-keras revives from their config (metrics are rebuilt from the metrics
# module only, and nodes of other kinds are ignored by its loader).
_METRIC_IDENTIFIER = "_tf_keras_metric"

# Lines TensorFlow puts before the message of an op that failed in a graph.
_BOILERPLATE = ("Graph execution error:", "Detected at node", "<stack traces unavailable>")


def load_saved_model(path: Path) -> LoadedModel:
    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(
            f"{path} is a folder but not a SavedModel (no saved_model.pb); give a SavedModel folder, "
            "a .keras file or a .h5 file"
        )
    scan_saved_model(path)
    metadata = path / "keras_metadata.pb"
    if metadata.is_file():
        for config in keras_metadata_configs(metadata):
            scan_config(config, "tf_keras")
        return _from_keras(path, "tf_keras", lambda: _tf_keras().models.load_model(path, compile=False))
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except KeyError:
        raise ModelLoadError(f"{path} has no 'serving_default' signature; export it with one") from None
    except Exception as error:
        raise ModelLoadError(f"{path} could not be loaded as a SavedModel ({_reason(error)})") from None
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; edgeship exports models with "
            "one input and one output"
        )
    (in_name, in_spec), (out_name, out_spec) = next(iter(inputs.items())), next(iter(outputs.items()))
    if in_spec.shape.rank is None or out_spec.shape.rank is None:
        raise UnsupportedModelError(
            f"{path}'s serving signature has a tensor of unknown rank; export it with fixed input and "
            "output shapes (a batch dimension of None is fine)"
        )

    def call(x: np.ndarray, batch_size: int) -> np.ndarray:
        batches = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
        try:
            return np.concatenate(
                [signature(**{in_name: tf.constant(b, in_spec.dtype)})[out_name].numpy() for b in batches]
            )
        except tf.errors.OpError as error:
            # An assertion of the model's own (tf.debugging.assert_*) that the inputs do not meet.
            raise DataError(
                f"{path} failed on the validation inputs ({_op_error_line(error)}); give --eval or "
                "--calibration DATA.npz with inputs the model accepts, or export the model without the "
                "check that fails"
            ) from None

    return LoadedModel(
        kind="savedmodel",
        path=path,
        keras_model=loaded,
        input=TensorInfo(in_name, tuple(in_spec.shape.as_list()), in_spec.dtype.name),
        output=TensorInfo(out_name, tuple(out_spec.shape.as_list()), out_spec.dtype.name),
        _call=call,
    )


def keras_metadata_configs(metadata: Path) -> list[dict[str, Any]]:
    """The serialised layer (`{"class_name", "config"}`) of every node tf-keras would revive from config."""
    from tf_keras.protobuf import saved_metadata_pb2

    proto = saved_metadata_pb2.SavedMetadata()
    try:
        proto.ParseFromString(metadata.read_bytes())
        nodes = [(node.identifier, json.loads(node.metadata or "{}")) for node in proto.nodes]
        if not any(node.node_path == "root" for node in proto.nodes):
            raise ValueError("no root node")
    except Exception as error:
        raise ModelLoadError(f"{metadata} is corrupt ({_reason(error)}); save the model again") from None
    return [
        {"class_name": node.get("class_name"), "config": node.get("config"), "name": node.get("name")}
        for identifier, node in nodes
        # A node without a class is revived from its traced functions, which the graph scan has checked.
        if identifier != _METRIC_IDENTIFIER and isinstance(node, dict) and node.get("class_name")
    ]


def _op_error_line(error: Exception) -> str:
    """The line of a TensorFlow op error that says what failed, without its graph-execution preamble."""
    lines = [line.strip() for line in str(error).splitlines()]
    useful = [line for line in lines if line and not line.startswith(_BOILERPLATE)]
    text = useful[0] if useful else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
