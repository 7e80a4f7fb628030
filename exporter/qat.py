"""Quantization-aware training: fake-quant nodes (tensorflow-model-optimization), a short fine-tune, int8.

tfmot works on tf-keras models only, which is one reason every model becomes tf-keras first.
Training runs under `gpu.distribution_strategy()`: on the GPU(s) when visible, as configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from exporter.context import ExportContext, trace
from exporter.errors import ConversionError

LEARNING_RATE = 1e-4  # fine-tuning a trained model: large steps would undo its training
BATCH_SIZE = 32


def _ends_in_softmax(model: Any) -> bool:
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(model.layers[-1]).__name__ == "Softmax"


def quantization_aware_model(context: ExportContext) -> Any:
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from exporter import gpu

    assert context.train is not None and context.train.y is not None, "the pipeline skips QAT without data"
    source: Any = context.inference_model
    model = tf_keras.models.clone_model(source)
    model.set_weights(source.get_weights())
    with gpu.distribution_strategy().scope():
        try:
            q_model = tfmot.quantization.keras.quantize_model(model)
        except Exception as error:
            raise ConversionError(
                f"tflite-qat: tensorflow-model-optimization cannot quantize this model ({str(error)[:160]}); "
                "use the int8 variant instead"
            ) from None
        q_model.compile(
            optimizer=tf_keras.optimizers.Adam(LEARNING_RATE),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not _ends_in_softmax(model)),
            metrics=["accuracy"],
        )
    x, y = context.train.x.load(), context.train.y
    bar = context.progress.bar(context.qat_epochs, "quantization-aware training", unit="epoch")
    progress = tf_keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: bar.update(1))
    q_model.fit(x, y, epochs=context.qat_epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=[progress])
    bar.close()
    return q_model


def qat_flatbuffer(context: ExportContext) -> bytes:
    import tensorflow as tf

    from exporter.targets.tflite import run_converter

    context.progress.step(f"tflite-qat: fine-tuning with fake-quant nodes for {context.qat_epochs} epoch(s)")
    q_model = quantization_aware_model(context)
    assert context.train is not None
    samples = context.train.x.limited(200)

    def representative() -> Iterator[list[np.ndarray]]:
        yield from ([sample] for sample in samples.chunks(1))

    function = trace(q_model, tuple(q_model.inputs[0].shape))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # QAT learned the activation ranges; the data only fixes the input tensor's own range for int8 I/O.
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return run_converter(converter, "tflite-qat")
