"""TFLite flatbuffers: fp32, fp16, dynamic-range int8, full-integer int8, and int8 after QAT."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporter.config import Precision, VariantSpec
from exporter.context import Artifact, ExportContext, encode_array, trace, write_content_named
from exporter.errors import ConversionError, StepTimeout
from exporter.tflite_runtime import TfliteRunner, float_ops, usable_cores

# Every op in int8: any op the converter left in float32 fails the variant (_check_fully_integer).
# tflite-qat is checked in _qat instead: a partly float QAT model is kept and said to be mixed.
FULL_INTEGER = (Precision.INT8,)
CALIBRATION_SAMPLES = 200  # more adds time, not accuracy, for activation ranges


def _fp32(converter: Any, context: ExportContext) -> Any:
    return converter


def _fp16(converter: Any, context: ExportContext) -> Any:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return converter


def _dynamic_int8(converter: Any, context: ExportContext) -> Any:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no dataset: int8 weights, float activations
    # Per-channel dense weights need FULLY_CONNECTED version 12, which the browser's TFLite runtime
    # (@tensorflow/tfjs-tflite 0.0.1-alpha.10) cannot load; per-tensor dense weights keep version 9.
    converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter


def _full_int8(converter: Any, context: ExportContext) -> Any:
    assert context.calibration is not None, "the pipeline skips int8 without calibration data"
    samples = context.calibration.x.limited(CALIBRATION_SAMPLES)
    return _full_integer(converter, context.progress.iterate(samples.chunks(1), len(samples), "calibrating"))


def _full_integer(converter: Any, samples: Iterable[np.ndarray]) -> Any:
    """Every op and the input and output in int8: the one setup of tflite-int8 and tflite-qat.

    For int8 the samples calibrate the activation ranges; after QAT, which learned those ranges, they only
    fix the input tensor's own range for int8 I/O. One sample at a time, read from the file: the data is
    never in memory as a whole."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter


@dataclass
class Built:
    """A flatbuffer with what the report and the manifest should say about how it was made."""

    flatbuffer: bytes
    notes: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


def _qat(context: ExportContext) -> Built:
    """tflite-qat: the fake-quant model exporter/qat.py trained, converted to int8.

    Layers tfmot cannot quantize stay float in training (exporter/qat_scheme.py); the converter calibrates
    them from the training samples. If every op still ends up in int8, the file is fully integer with int8
    input and output, like tflite-int8. If some op stays float32, the variant is kept as a mixed model
    (the retrained weights are what QAT is for, and it runs on CPUs and GPUs) with float32 input and output,
    and its notes and manifest entry say so: it is not for integer-only hardware.
    """
    import tensorflow as tf

    from exporter.qat import quantization_aware_model  # imports tensorflow-model-optimization
    from exporter.qat_scheme import float_note

    context.progress.step(f"tflite-qat: fine-tuning with fake-quant nodes for {context.qat_epochs} epoch(s)")
    trained = quantization_aware_model(context)
    assert context.train is not None, "the pipeline skips QAT without training data"
    q_model = trained.model
    function = trace(q_model, tuple(q_model.inputs[0].shape))
    variant = f"tflite-{Precision.QAT}"
    samples = context.train.x.limited(CALIBRATION_SAMPLES)
    notes = [note for note in [float_note(trained.float_layers)] if note]
    remaining: list[str] | None = None  # float32 ops of the flatbuffer; None: the full-integer setup failed
    try:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
        flatbuffer = run_converter(_full_integer(converter, samples.chunks(1)), variant)
        remaining = float_ops(flatbuffer)
    except StepTimeout:
        raise
    except ConversionError:
        pass  # an op without an int8 kernel: the mixed setup below says which
    if remaining is None or remaining:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
        flatbuffer = run_converter(_mixed_integer(converter, samples.chunks(1)), variant)
        remaining = float_ops(flatbuffer)
    if remaining:
        notes.append(
            f"mixed int8/float32: the op(s) {', '.join(remaining)} run in float32, and so do the input and "
            "output; fine on CPUs and GPUs, not for integer-only hardware (Edge TPU, microcontrollers, NPUs)"
        )
    fields = {"fully_integer": not remaining, "float_ops": remaining, "float_layers": trained.float_layers}
    return Built(flatbuffer, notes, fields)


def _mixed_integer(converter: Any, samples: Iterable[np.ndarray]) -> Any:
    """int8 where a kernel exists, float32 builtins elsewhere; float32 input and output."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]
    return converter


PRECISIONS: dict[Precision, Callable[[Any, ExportContext], Any]] = {
    Precision.FP32: _fp32,
    Precision.FP16: _fp16,
    Precision.DYNAMIC_INT8: _dynamic_int8,
    Precision.INT8: _full_int8,
}


def build_flatbuffer(context: ExportContext, precision: Precision) -> bytes:
    if precision is Precision.QAT:
        return _qat(context).flatbuffer
    configure = PRECISIONS[precision]
    return convert_trace(context, lambda converter: configure(converter, context), f"tflite-{precision}")


class FreeBatchError(ConversionError):
    """The converter cannot lower the model with a free batch dimension (TensorList ops of RNN layers)."""


def convert_trace(context: ExportContext, configure: Callable[[Any], Any], variant: str) -> bytes:
    """Convert the model's trace; a model the converter takes only with a fixed batch (recurrent layers)
    is converted for one sample at a time, which is how phones and the browser run TFLite anyway."""
    if not context.single_sample:
        try:
            return run_converter(configure(context.tflite_converter()), variant)
        except FreeBatchError:
            context.single_sample = True
            context.progress.step("the model converts to TFLite for one sample at a time (recurrent layers)")
    if variant == f"tflite-{Precision.INT8}":
        # With a fixed batch the TF 2.19 converter crashes the process (SIGSEGV) on RNNs in full int8.
        # (tflite-qat never gets here: tensorflow-model-optimization refuses recurrent layers first.)
        raise ConversionError(
            f"{variant}: full-integer quantization of recurrent layers (LSTM, GRU, RNN) crashes the "
            "TFLite converter; use the tflite-dynamic-int8 variant for this model"
        )
    return run_converter(configure(context.tflite_converter(single_sample=True)), variant)


def run_converter(converter: Any, variant: str) -> bytes:
    try:
        return bytes(converter.convert())
    except Exception as error:
        if "TensorListReserve" in str(error):
            raise FreeBatchError(f"{variant}: {_converter_reason(error)}") from None
        raise ConversionError(f"{variant}: {_converter_reason(error)}") from None


def _converter_reason(error: Exception) -> str:
    text = str(error)
    unsupported = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if unsupported:
        return (
            f"the op(s) {', '.join(unsupported)} have no TFLite builtin kernel "
            "(they need TensorFlow Flex ops); replace them with supported layers, "
            "or export with --targets tfjs"
        )
    if "TensorListReserve" in text:
        return "recurrent layers with a free batch size are not supported by the TFLite converter here"
    ops = sorted(set(re.findall(r"'tfl?\.(\w+)'", text)) | set(re.findall(r"op '(\w+)'", text)))
    if "quantiz" in text.lower() and ops:
        return (
            f"full-integer quantization does not support the op(s) {', '.join(ops)}; "
            "use the dynamic-int8 variant for this model"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return f"the TFLite converter failed ({first[:200]})"


def _check_fully_integer(flatbuffer: bytes, variant: str) -> None:
    """A full-integer model that runs some ops in float32 fails on integer-only hardware (Edge TPU,
    microcontrollers, many NPUs), which is the reason to choose it: refuse to call it int8."""
    ops = float_ops(flatbuffer)
    if ops:
        raise ConversionError(
            f"{variant}: full-integer quantization cannot quantize the op(s) {', '.join(ops)} (they would "
            "run in float32 inside the int8 model); use the tflite-dynamic-int8 variant for this model"
        )


def convert(context: ExportContext, spec: VariantSpec, folder: Path) -> Artifact:
    built = (
        _qat(context) if spec.precision is Precision.QAT else Built(build_flatbuffer(context, spec.precision))
    )
    flatbuffer = built.flatbuffer
    if spec.precision is Precision.FP32:
        context.fp32_flatbuffer = flatbuffer
    entry = write_content_named(folder, f"tflite/{spec.precision}", ".tflite", flatbuffer)

    runner = TfliteRunner(flatbuffer, num_threads=usable_cores())  # validation: every core
    if spec.precision in FULL_INTEGER:
        _check_fully_integer(flatbuffer, spec.id)
    raw_inputs = runner.quantize_input(context.parity_inputs)
    parity = {
        "reference": "ai-edge-litert interpreter running this very .tflite file",
        "inputs": encode_array(raw_inputs),
        "outputs": encode_array(runner.run_raw(raw_inputs)),
    }
    parity_path = write_content_named(
        folder, f"tflite/{spec.precision}.parity", ".json", json.dumps(parity).encode()
    )
    fields: dict[str, Any] = {
        "input_dtype": runner.input_dtype,
        "output_dtype": runner.output_dtype,
        **built.fields,
    }
    if runner.input_quantization:
        fields["input_quantization"] = runner.input_quantization.as_json()
    if runner.output_quantization:
        fields["output_quantization"] = runner.output_quantization.as_json()
    return Artifact(
        spec=spec,
        entry=entry,
        files=[entry],
        runner=runner,
        parity=parity,
        parity_path=parity_path,
        manifest_fields=fields,
        latency_ms=runner.latency_ms(context.parity_inputs),
        notes=built.notes,
    )
