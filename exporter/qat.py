"""Quantization-aware training: fake-quant nodes (tensorflow-model-optimization) and a short fine-tune.

`quantization_aware_model` returns the trained fake-quant model and the layers it left in float; the TFLite
target converts it to int8 (exporter/targets/tflite.py). Which layers get fake-quant nodes is decided in
exporter/qat_scheme.py. tfmot works on tf-keras models only, which is one reason every model becomes
tf-keras first. Training runs under `gpu.distribution_strategy()`: on the GPU(s) when visible, as configured.

Why the ranges are calibrated before training: tfmot starts every activation range at [-6, 6] and moves
it by an exponential moving average with decay 0.999, so a short fine-tune (16 steps for 512 samples) ends
with ranges still near [-6, 6], where a ReLU output in [0, 0.5] gets a handful of the 256 levels; and the
input's range starts at [0, 0] and grows only in training steps. Running the fake-quant model over
calibration samples first, with every quantizer keeping the running min/max of what it sees (what the
TFLite calibrator does for tflite-int8), starts training where post-training int8 ends: on a
keras.applications MobileNetV2 (32x32 digits) the fake-quant model goes from 9.8 % to 95.2 % accuracy
(float: 95.0 %) before its first training step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from exporter.bounded import bounded, step_timeout_s, unbounded
from exporter.context import ExportContext
from exporter.errors import ConversionError, StepTimeout

LEARNING_RATE = 1e-4  # fine-tuning a trained model: large steps would undo its training
BATCH_SIZE = 32
RANGE_SAMPLES = 256  # calibration samples that set the starting ranges (tflite-int8 calibrates on 200)


@dataclass
class QuantizationAware:
    model: Any  # the trained tf-keras model with fake-quant nodes
    float_layers: list[str]  # layers left unquantized (exporter/qat_scheme.py)


def _ends_in_softmax(model: Any) -> bool:
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(model.layers[-1]).__name__ == "Softmax"


def quantization_aware_model(context: ExportContext) -> QuantizationAware:
    """The inference model with fake-quant nodes, ranges calibrated, fine-tuned for `qat_epochs`."""
    import tf_keras

    from exporter.gpu import distribution_strategy

    assert context.train is not None and context.train.y is not None, "the pipeline skips QAT without data"
    with distribution_strategy().scope():
        with bounded(
            step_timeout_s(), "tflite-qat: inserting fake-quant nodes (tensorflow-model-optimization)"
        ):
            q_model, float_layers = fake_quant_model(context.inference_model)
        q_model.compile(
            optimizer=tf_keras.optimizers.Adam(LEARNING_RATE),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(
                from_logits=not _ends_in_softmax(context.inference_model)
            ),
            metrics=["accuracy"],
        )
    ranges_from = context.calibration if context.calibration is not None else context.train
    with bounded(step_timeout_s(), "tflite-qat: calibrating the fake-quant ranges"):
        calibrate_ranges(q_model, ranges_from.x.limited(RANGE_SAMPLES).chunks(BATCH_SIZE))
    x, y = context.train.x.load(), context.train.y
    bar = context.progress.bar(context.qat_epochs, "quantization-aware training", unit="epoch")
    progress = tf_keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: bar.update(1))
    with unbounded():  # as long as the user asked for (--qat-epochs), with its progress shown
        q_model.fit(x, y, epochs=context.qat_epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=[progress])
    bar.close()
    return QuantizationAware(q_model, float_layers)


def fake_quant_model(model: Any) -> tuple[Any, list[str]]:
    """A copy of `model` (its weights too) with fake-quant nodes on what the 8-bit scheme quantizes, and
    the names of the layers left in float; ConversionError when tfmot cannot take even that."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from exporter.qat_scheme import annotate, reserve_layer_names

    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    try:
        annotated = annotate(copy)
        if not any(type(layer).__name__ == "QuantizeAnnotate" for layer in annotated.model.layers):
            raise ValueError("it has no layer the 8-bit scheme quantizes")
        reserve_layer_names(annotated.model)
        with tfmot.quantization.keras.quantize_scope():
            q_model = tfmot.quantization.keras.quantize_apply(annotated.model)
    except StepTimeout:
        raise
    except Exception as error:
        raise ConversionError(
            f"tflite-qat: tensorflow-model-optimization cannot quantize this model ({str(error)[:160]}); "
            "use the int8 variant instead"
        ) from None
    return q_model, annotated.float_layers


@contextmanager
def _recording_ranges() -> Iterator[None]:
    """While active, every per-tensor activation quantizer keeps the running min/max of its input (tfmot's
    AllValuesQuantize; the moving-average ones first forget the [-6, 6] tfmot starts them from) and every
    weight quantizer takes its weights' range, whether the model runs in training mode or not."""
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops, quantizers

    classes = (
        quantizers.MovingAverageQuantizer,
        quantizers.LastValueQuantizer,
        quantizers.AllValuesQuantizer,
    )
    originals = {cls: cls.__call__ for cls in classes}
    started: set[int] = set()

    def moving_average(self: Any, inputs: Any, training: Any, weights: Any, **kwargs: Any) -> Any:
        if self.per_axis:  # AllValuesQuantize is per tensor; the 8-bit scheme's activations are too
            return originals[quantizers.MovingAverageQuantizer](self, inputs, True, weights, **kwargs)
        low, high = weights["min_var"], weights["max_var"]
        if id(low) not in started:
            started.add(id(low))
            low.assign(tf.zeros_like(low))
            high.assign(tf.zeros_like(high))
        return quant_ops.AllValuesQuantize(
            inputs,
            low,
            high,
            is_training=True,
            num_bits=self.num_bits,
            symmetric=self.symmetric,
            narrow_range=self.narrow_range,
        )

    def updating(cls: type) -> Any:
        def call(self: Any, inputs: Any, training: Any, weights: Any, **kwargs: Any) -> Any:
            return originals[cls](self, inputs, True, weights, **kwargs)

        return call

    quantizers.MovingAverageQuantizer.__call__ = moving_average  # type: ignore[method-assign]
    quantizers.LastValueQuantizer.__call__ = updating(quantizers.LastValueQuantizer)  # type: ignore[method-assign]
    quantizers.AllValuesQuantizer.__call__ = updating(quantizers.AllValuesQuantizer)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, call in originals.items():
            cls.__call__ = call  # type: ignore[method-assign]


def calibrate_ranges(q_model: Any, batches: Iterator[Any]) -> None:
    """Set the fake-quant ranges of `q_model` from its activations on `batches` (each range sees the
    fake-quantized inputs of its layer, as in training).

    Eager calls in inference mode: batch normalization keeps its moving statistics and dropout is off, so
    the ranges are those of the model as it will run; nothing is traced, so no compiled function of the
    model keeps the recording quantizers once this returns."""
    import tensorflow as tf

    with _recording_ranges():
        for batch in batches:
            q_model(tf.convert_to_tensor(batch), training=False)
