"""Quantization-aware training: fake-quant nodes (tensorflow-model-optimization) and a short fine-tune.

`quantization_aware_model` returns the trained fake-quant model; the TFLite target converts it to int8
(exporter/targets/tflite.py), with the same full-integer settings as the calibrated int8 variant.
tfmot works on tf-keras models only, which is one reason every model becomes tf-keras first.
Training runs under `gpu.distribution_strategy()`: on the GPU(s) when visible, as configured.
"""

from __future__ import annotations

from typing import Any

from exporter.context import ExportContext
from exporter.errors import ConversionError

LEARNING_RATE = 1e-4  # fine-tuning a trained model: large steps would undo its training
BATCH_SIZE = 32


def _ends_in_softmax(model: Any) -> bool:
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(model.layers[-1]).__name__ == "Softmax"


def quantization_aware_model(context: ExportContext) -> Any:
    """The inference model with fake-quant nodes, fine-tuned on the training data for `qat_epochs`."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from exporter.gpu import distribution_strategy

    assert context.train is not None and context.train.y is not None, "the pipeline skips QAT without data"
    source: Any = context.inference_model
    model = tf_keras.models.clone_model(source)
    model.set_weights(source.get_weights())
    with distribution_strategy().scope():
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
