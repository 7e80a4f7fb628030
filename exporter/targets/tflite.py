"""TFLite flatbuffers: fp32, fp16, dynamic-range int8, full-integer int8, and int8 after QAT."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from exporter.config import Precision, VariantSpec
from exporter.context import Artifact, BrowserFile, ExportContext, encode_array, trace, write_content_named
from exporter.errors import ConversionError, StepTimeout
from exporter.tflite_runtime import TfliteRunner, float_ops, usable_cores

# Every op in int8: any op the converter left in float32 fails the variant (_check_fully_integer).
# tflite-qat is checked in _qat instead: a partly float QAT model is kept and said to be mixed.
FULL_INTEGER = (Precision.INT8,)
CALIBRATION_SAMPLES = 200  # more adds time, not accuracy, for activation ranges
# The browser file against the deployable one on the parity inputs: float variants compute the same ops in
# the same order (a last-bit difference at most); integer outputs may differ by one quantization step.
BROWSER_FLOAT_TOLERANCE = 1e-5


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
    # Per-channel dense weights need FULLY_CONNECTED version 12, which @tensorflow/tfjs-tflite (the browser
    # runtime before LiteRT.js) and older LiteRT/TFLite runtimes on phones cannot load; per-tensor dense
    # weights keep version 9, which every runtime takes.
    converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter


def _full_int8(converter: Any, context: ExportContext) -> Any:
    assert context.calibration is not None, "the pipeline skips int8 without calibration data"
    samples = context.calibration.x.limited(CALIBRATION_SAMPLES)
    return _full_integer(converter, context.progress.iterate(samples.chunks(1), len(samples), "calibrating"))


def _full_integer(converter: Any, samples: Iterable[np.ndarray], integer_io: bool = True) -> Any:
    """Every op and the input and output in int8: the one setup of tflite-int8 and tflite-qat.

    For int8 the samples calibrate the activation ranges; after QAT, which learned those ranges, they only
    fix the input tensor's own range for int8 I/O. One sample at a time, read from the file: the data is
    never in memory as a whole. `integer_io=False`, for the browser's file: the same int8 model with
    float32 input and output (the converter adds QUANTIZE/DEQUANTIZE at the edges)."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8 if integer_io else tf.float32
    converter.inference_output_type = tf.int8 if integer_io else tf.float32
    return converter


def _browser_int8(converter: Any, context: ExportContext) -> Any:
    """tflite-int8's browser file: calibrated on the same samples as the deployable one, float32 edges."""
    assert context.calibration is not None, "the pipeline skips int8 without calibration data"
    samples = context.calibration.x.limited(CALIBRATION_SAMPLES)
    return _full_integer(converter, samples.chunks(1), integer_io=False)


@dataclass
class Built:
    """A flatbuffer with what the report and the manifest should say about how it was made."""

    flatbuffer: bytes
    notes: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    browser: bytes | None = None  # the browser's file, when made with the deployable one (tflite-qat)


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
    function_shape = tuple(q_model.inputs[0].shape)
    function = trace(q_model, function_shape)
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
    # The browser's file: the same setup for one sample, float32 edges (LiteRT.js takes neither int8 I/O
    # nor a free batch); what the mixed setup makes has float32 edges already.
    single = tf.lite.TFLiteConverter.from_concrete_functions([trace(q_model, function_shape, batch=1)])
    if remaining:
        single = _mixed_integer(single, samples.chunks(1))
    else:
        single = _full_integer(single, samples.chunks(1), integer_io=False)
    browser = run_converter(single, f"{variant} (browser file)")
    fields = {"fully_integer": not remaining, "float_ops": remaining, "float_layers": trained.float_layers}
    return Built(flatbuffer, notes, fields, browser)


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
    notes = list(built.notes)
    try:
        made = built.browser if built.browser is not None else _browser_flatbuffer(context, spec, flatbuffer)
        browser: BrowserFile | None = _write_browser(
            context, spec, made, runner, built.fields.get("fully_integer"), folder
        )
    except StepTimeout:
        raise
    except ConversionError as error:
        # The deployable file is validated on its own: a browser copy that cannot be made, or that does not
        # match it, costs only the web app's copy. The row's notes and the manifest say why.
        browser = None
        fields["browser_skipped"] = str(error)
        notes.append(f"no browser file, so the web app cannot run this variant: {error}")
    return Artifact(
        spec=spec,
        entry=entry,
        files=[entry],
        runner=runner,
        parity=parity,
        parity_path=parity_path,
        manifest_fields=fields,
        latency_ms=runner.latency_ms(context.parity_inputs),
        notes=notes,
        browser=browser,
    )


def _browser_flatbuffer(context: ExportContext, spec: VariantSpec, deployable: bytes) -> bytes:
    """The variant converted again for one sample with float32 input and output: what LiteRT.js runs
    (it refuses a free batch and int8 input or output tensors)."""
    if context.single_sample:
        return deployable  # converted for one sample already, float32 edges (int8 never gets here)
    configure = _browser_int8 if spec.precision is Precision.INT8 else PRECISIONS[spec.precision]
    converter = configure(context.tflite_converter(single_sample=True), context)
    return run_converter(converter, f"{spec.id} (browser file)")


def _write_browser(
    context: ExportContext,
    spec: VariantSpec,
    flatbuffer: bytes,
    deployable: TfliteRunner,
    qat_fully_integer: bool | None,
    folder: Path,
) -> BrowserFile:
    """Check the browser's file against the deployable one, then write it and its parity fixture.

    Each parity input runs on its own on both files: a batch changes dynamic-range int8's activation
    ranges, and the browser file runs one sample at a time anyway."""
    shape = [int(d) for d in Interpreter(model_content=flatbuffer).get_input_details()[0]["shape_signature"]]
    runner = TfliteRunner(flatbuffer, num_threads=usable_cores())
    where = f"{spec.id}: the browser file (batch 1, float32 input and output)"
    if shape[:1] != [1] or min(shape) < 1 or (runner.input_dtype, runner.output_dtype) != ("float32",) * 2:
        raise ConversionError(
            f"{where} came out with input shape {shape}, {runner.input_dtype} input and "
            f"{runner.output_dtype} output, which LiteRT.js cannot run; give the model an input shape "
            "without free dimensions (the batch aside)"
        )
    if spec.precision in FULL_INTEGER or qat_fully_integer:
        _check_fully_integer(flatbuffer, f"{spec.id} (browser file)")
    inputs = context.parity_inputs.astype(np.float32, copy=False)
    outputs = runner.run_raw(inputs)  # its batch is 1: one sample at a time
    expected = np.concatenate([deployable.predict(inputs[i : i + 1]) for i in range(len(inputs))])
    step = deployable.output_quantization
    allowed = step.scale * (1 + 1e-6) if step else BROWSER_FLOAT_TOLERANCE
    difference = float(np.max(np.abs(outputs.astype(np.float32) - expected)))
    if not difference <= allowed:  # `not <=`: a NaN fails too
        raise ConversionError(
            f"{where} differs from the deployable file by {difference:.3g} on the parity inputs (allowed "
            f"{allowed:.3g}): the converter built them differently"
        )
    entry = write_content_named(folder, f"tflite/{spec.precision}.browser", ".tflite", flatbuffer)
    parity = {
        "reference": "ai-edge-litert interpreter running this very .tflite file, one sample at a time",
        "inputs": encode_array(inputs),
        "outputs": encode_array(outputs),
    }
    parity_path = write_content_named(
        folder, f"tflite/{spec.precision}.browser.parity", ".json", json.dumps(parity).encode()
    )
    return BrowserFile(entry=entry, parity_path=parity_path, input_shape=shape)
