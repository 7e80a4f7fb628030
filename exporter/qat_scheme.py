"""Which layers quantization-aware training quantizes: tensorflow-model-optimization's 8-bit scheme per layer.

tfmot's `quantize_model` refuses a whole model for one layer its registry lacks (a Rescaling or Normalization
at the input, a BatchNormalization that follows no convolution, the TFOpLambda arithmetic of MobileNetV3's
hard-swish), which cost EfficientNet, ResNetV2, DenseNet and NASNet their QAT variant. Here each layer is
annotated on its own:

- a layer the 8-bit registry quantizes, with an activation its fake-quant wrapper knows, gets fake-quant
  nodes;
- a weightless element-wise layer the registry lacks (Multiply, Subtract, Maximum, Minimum) gets tfmot's
  output-only QuantizeConfig: TFLite runs these ops in int8 with any input and output scales, so learning the
  output range is all they need;
- everything else stays float and is named in the report. The TFLite converter calibrates what stayed float
  from the representative samples, so the file may still be fully integer (exporter/targets/tflite.py).

`reserve_layer_names` is the fix of a hang: see its docstring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Activations tfmot's QuantizeAwareActivation wraps (its _PRE_/_POST_QUANT_ACTIVATIONS) and those
# Default8BitActivationQuantizeConfig accepts on an Activation layer; any other raises inside quantize_apply.
_WRAPPED_ACTIVATIONS = frozenset({"linear", "relu", "swish", "gelu", "softmax", "sigmoid", "tanh"})
_ACTIVATION_LAYER_ACTIVATIONS = _WRAPPED_ACTIVATIONS | {"relu6"}
# Layers whose `activation` attribute the registry's config replaces by a fake-quant wrapper.
_WRAPS_ACTIVATION = frozenset({"Conv2D", "DepthwiseConv2D", "Dense", "Conv2DTranspose"})
# Layers the registry lacks but tfmot's layout transform splits into ones it has (DepthwiseConv2D + Conv2D).
_SPLIT_BY_TRANSFORM = frozenset({"SeparableConv1D", "SeparableConv2D"})
# Weightless element-wise layers TFLite runs in int8 with any scales: an output range is all they need.
_OUTPUT_ONLY = frozenset({"Multiply", "Subtract", "Maximum", "Minimum"})
# TFLite's AVERAGE_POOL_2D must give its output its input's scale; tfmot's config puts a range of its own
# after the pool, which the converter then refuses ("violate the same scale constraint", DenseNet's
# transition blocks). Without an output range the converter carries the input's over.
_SAME_SCALE = frozenset({"AveragePooling1D", "AveragePooling2D"})
NAMES_SHOWN = 8  # a note lists this many float layers by name, then how many more


@dataclass(frozen=True)
class Annotated:
    model: Any  # the tf-keras model with QuantizeAnnotate wrappers, ready for quantize_apply
    float_layers: list[str]  # layers left unquantized, in model order


def annotate(model: Any) -> Annotated:
    """`model` with every layer the 8-bit scheme can quantize annotated; the others left as they are.
    The annotated model shares its layers (and weights) with `model`: give it a copy of yours."""
    import tensorflow_model_optimization as tfmot
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs,
        default_8bit_quantize_registry,
    )

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    float_layers: list[str] = []

    def clone(layer: Any) -> Any:
        # The layer itself, not a copy from its config: a copy would start from fresh random weights.
        choice = _choice(layer, registry)
        if choice == "float":
            if not isinstance(layer, tf_keras.layers.InputLayer):
                float_layers.append(layer.name)
            return layer
        config = {
            "output": default_8bit_quantize_configs.Default8BitOutputQuantizeConfig(),
            "same_scale": default_8bit_quantize_configs.NoOpQuantizeConfig(),
        }.get(choice)
        return tfmot.quantization.keras.quantize_annotate_layer(layer, quantize_config=config)

    with tfmot.quantization.keras.quantize_scope(_custom_objects(model)):
        annotated = tf_keras.models.clone_model(model, clone_function=clone)
    return Annotated(annotated, float_layers)


def _choice(layer: Any, registry: Any) -> str:
    """'registry' (the scheme's own config), 'output' (output range only), 'same_scale' (no range of its
    own) or 'float'."""
    kind = type(layer).__name__
    if kind in _SAME_SCALE:
        return "same_scale"
    if kind in _OUTPUT_ONLY and not layer.weights:
        return "output"
    if kind in _SPLIT_BY_TRANSFORM:
        return "registry" if _activation_name(layer) in _WRAPPED_ACTIVATIONS else "float"
    if not registry.supports(layer) or len(getattr(layer, "_inbound_nodes", [])) > 1:
        return "float"  # a shared layer would need one set of ranges for several tensors
    if kind == "Activation":
        return "registry" if _activation_name(layer) in _ACTIVATION_LAYER_ACTIVATIONS else "float"
    if kind in _WRAPS_ACTIVATION:
        return "registry" if _activation_name(layer) in _WRAPPED_ACTIVATIONS else "float"
    return "registry"


def _activation_name(layer: Any) -> str:
    activation = getattr(layer, "activation", None)
    return str(getattr(activation, "__name__", type(activation).__name__))


def _custom_objects(model: Any) -> dict[str, type]:
    # Unregistered custom layers resolve by their class name while the model is cloned.
    return {type(layer).__name__: type(layer) for layer in model.layers}


def float_note(float_layers: list[str]) -> str | None:
    """The report's sentence about what QAT left in float, or None when it quantized every layer."""
    if not float_layers:
        return None
    shown = ", ".join(float_layers[:NAMES_SHOWN])
    more = len(float_layers) - NAMES_SHOWN
    tail = f" and {more} more" if more > 0 else ""
    return f"QAT left {len(float_layers)} layer(s) in float: {shown}{tail}"


def reserve_layer_names(model: Any) -> None:
    """Advance tf-keras's per-class name counters past the names `model` already uses.

    Why: tfmot's SeparableConvQuantize transform splits a SeparableConv2D into a new DepthwiseConv2D and a
    new Conv2D that take tf-keras's next automatic names ("depthwise_conv2d", "conv2d"). A model whose
    layers got their names elsewhere (Keras 3, a file, another process) never advanced this process's
    counters, so the new layer can be called like an existing one; the transformed config then holds two
    layers of one name, their nodes point at each other, and tf-keras's Model.from_config re-queues them
    forever (the reported hang). With the counters past every name in the model, new names are fresh.
    """
    from tf_keras.src import backend  # the public tf_keras.backend does not export the counters

    counters = backend.get_default_graph_uid_map()
    # An annotated layer's own name is inside its QuantizeAnnotate wrapper; quantize_apply unwraps it.
    names = {name for layer in model.layers for name in (layer.name, getattr(layer, "layer", layer).name)}
    for name in sorted(names):
        match = re.fullmatch(r"(.+?)(?:_(\d+))?", name)
        assert match is not None  # the pattern matches every string
        base, number = match.group(1), int(match.group(2) or 0)
        # Zero-based naming: counter n means the next name is base_n (or base when n == 0).
        counters[("", base)] = max(counters[("", base)], number + 1)
