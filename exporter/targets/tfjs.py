"""TensorFlow.js layers models (trainable in the browser): fp32, fp16 and symmetric int8 weights.

The topology comes from the tf-keras inference model; the weights are written by `exporter.tfjs_weights`.
The variant is validated through a float32 TFLite model built from exactly the weights the browser decodes,
so the parity fixture compares two runtimes on identical numbers, not two quantizations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from exporter import __version__
from exporter.config import VariantSpec
from exporter.context import Artifact, ExportContext, encode_array, write_content_named
from exporter.targets.tflite import convert_trace
from exporter.tfjs_topology import set_weights_by_tfjs_name, tfjs_topology, tfjs_weight_entries
from exporter.tfjs_weights import write_weights
from exporter.tflite_runtime import TfliteRunner, usable_cores


def convert(context: ExportContext, spec: VariantSpec, folder: Path) -> Artifact:
    model = context.inference_model
    assert model is not None, "the pipeline skips TFJS variants without Keras layers"
    relative = Path("tfjs") / str(spec.precision)
    (folder / relative).mkdir(parents=True, exist_ok=True)

    topology = tfjs_topology(model)
    weights = tfjs_weight_entries(model)
    written = write_weights(weights, folder / relative, spec.precision, context.shard_size)
    lossless = all(np.array_equal(written.decoded[name], array) for name, array in weights)
    del weights  # MobileNetV2: 14 MB that the reference conversion below need not hold
    model_json = {
        "format": "layers-model",
        "generatedBy": f"edgeship {__version__}",
        "convertedBy": f"edgeship {__version__}",
        "modelTopology": topology,
        "weightsManifest": written.manifest,
    }
    model_bytes = json.dumps(model_json, separators=(",", ":")).encode()
    entry = write_content_named(folder, f"{relative.as_posix()}/model", ".json", model_bytes)

    context.progress.step(f"{spec.id}: building the float32 TFLite reference from the decoded weights")
    flatbuffer = _decoded_flatbuffer(context, written.decoded, lossless, spec.id)
    runner = TfliteRunner(flatbuffer, num_threads=usable_cores())  # validation only: every core
    parity = {
        "reference": "ai-edge-litert interpreter, float32 TFLite model built from the decoded weights",
        "inputs": encode_array(context.parity_inputs),
        "outputs": encode_array(runner.predict(context.parity_inputs)),
    }
    parity_path = write_content_named(
        folder, f"{relative.as_posix()}/parity", ".json", json.dumps(parity).encode()
    )
    return Artifact(
        spec=spec,
        entry=entry,
        files=[entry, *(relative / shard for shard in written.shards)],
        runner=runner,
        parity=parity,
        parity_path=parity_path,
        manifest_fields={"input_dtype": "float32", "output_dtype": "float32"},
    )


def _decoded_flatbuffer(
    context: ExportContext, decoded: dict[str, Any], lossless: bool, variant: str
) -> bytes:
    """The inference model with the decoded weights swapped in, converted to fp32 TFLite, weights restored.

    Freezing reads variable values at conversion time, so the model's existing trace is reused: no second
    model and no second trace per variant (that cost ~100 MB and 2 s each for MobileNetV2). The tests
    rebuild the model from model.json instead and check that they get bit-identical outputs.
    """
    model: Any = context.inference_model
    if lossless and context.fp32_flatbuffer is not None:
        return context.fp32_flatbuffer  # fp32 shards decode to the very weights tflite-fp32 was built from
    original = model.get_weights()
    set_weights_by_tfjs_name(model, decoded)
    try:
        return convert_trace(context, lambda converter: converter, variant)
    finally:
        model.set_weights(original)
