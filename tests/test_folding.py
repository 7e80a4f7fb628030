"""Batch-norm folding: the folded model computes what the original computes, with the BNs gone.

Every weight and BN statistic is set to random, non-trivial values (moving means far from 0, variances and
gammas far from 1), so a wrong axis, a missing term or a fold applied where it must not be shows up as a
difference far above the 1e-5 bound.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tf_keras
from sklearn.datasets import load_digits
from tf_keras import layers

from exporter.errors import UnsupportedModelError
from exporter.folding import fold_batchnorm

ATOL = 1e-5
INPUT = (6, 6, 3)


def _randomise(model: tf_keras.Model, seed: int = 0) -> tf_keras.Model:
    """Give every weight a random value; BN variances and gammas positive and away from 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for weight in layer.weights:
            name = weight.name.split("/")[-1]
            if "moving_variance" in name or "gamma" in name:
                values.append(rng.uniform(0.3, 2.5, weight.shape))
            elif "moving_mean" in name or "beta" in name:
                values.append(rng.normal(0.0, 1.0, weight.shape))
            else:
                values.append(rng.normal(0.0, 0.4, weight.shape))
        layer.set_weights(values)
    return model


def _inputs(model: tf_keras.Model, n: int = 16) -> np.ndarray:
    """Pixel-like inputs in [0, 1]."""
    shape = tuple(model.input_shape[1:])
    return np.random.default_rng(1).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


def _max_diff(a: tf_keras.Model, b: tf_keras.Model, x: np.ndarray) -> float:
    return float(np.max(np.abs(a(x, training=False).numpy() - b(x, training=False).numpy())))


def _bn_count(model: tf_keras.Model) -> int:
    return len(_bn_names(model))


def _bn_names(model: tf_keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, layers.BatchNormalization)]


# ---------------------------------------------------------------------------------------------------------
# Each foldable kind

KINDS: dict[str, Callable[[bool], layers.Layer]] = {
    "conv2d": lambda bias: layers.Conv2D(5, 3, padding="same", use_bias=bias, name="target"),
    "depthwise": lambda bias: layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=bias, name="target"),
    "separable": lambda bias: layers.SeparableConv2D(4, 3, depth_multiplier=2, use_bias=bias, name="target"),
    "dense": lambda bias: layers.Dense(7, use_bias=bias, name="target"),
}


def _kind_model(kind: str, bias: bool, center: bool, scale: bool, sequential: bool) -> tf_keras.Model:
    stack = [
        KINDS[kind](bias),
        layers.BatchNormalization(center=center, scale=scale, name="bn"),
        layers.ReLU(name="after"),
    ]
    if sequential:
        return _randomise(tf_keras.Sequential([tf_keras.Input(INPUT), *stack]))
    x = inputs = tf_keras.Input(INPUT)
    for layer in stack:
        x = layer(x)
    return _randomise(tf_keras.Model(inputs, x))


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
@pytest.mark.parametrize("center,scale", [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_folds_each_kind(kind: str, bias: bool, center: bool, scale: bool, sequential: bool) -> None:
    model = _kind_model(kind, bias, center, scale, sequential)
    folded, count = fold_batchnorm(model)
    assert count == 1
    assert _bn_count(folded) == 0
    kept = [layer.name for layer in model.layers if layer.name != "bn"]
    assert [layer.name for layer in folded.layers] == kept
    assert folded.get_layer("target").use_bias
    assert _max_diff(model, folded, _inputs(model)) <= ATOL


# ---------------------------------------------------------------------------------------------------------
# What must be left alone. Each model ends in one foldable conv+BN, so the count is checked as well as 0.


def _tail(x: tf_keras.KerasTensor) -> tf_keras.KerasTensor:
    return layers.BatchNormalization(name="bn_tail")(layers.Conv2D(4, 1, name="conv_tail")(x))


def _after_activation(inputs: tf_keras.KerasTensor) -> tf_keras.KerasTensor:
    return layers.BatchNormalization(name="bn_kept")(layers.Conv2D(4, 3, activation="relu")(inputs))


def _two_consumers(inputs: tf_keras.KerasTensor) -> tf_keras.KerasTensor:
    conv = layers.Conv2D(3, 3, padding="same")(inputs)
    return layers.Add()([conv, layers.BatchNormalization(name="bn_kept")(conv)])


def _bn_first(inputs: tf_keras.KerasTensor) -> tf_keras.KerasTensor:
    return layers.Conv2D(4, 3)(layers.BatchNormalization(name="bn_kept")(inputs))


def _axis_1(inputs: tf_keras.KerasTensor) -> tf_keras.KerasTensor:
    return layers.BatchNormalization(axis=1, name="bn_kept")(layers.Conv2D(4, 3)(inputs))


@pytest.mark.parametrize("body", [_after_activation, _two_consumers, _bn_first, _axis_1])
def test_leaves_unfoldable_bn_alone(body: Callable[[tf_keras.KerasTensor], tf_keras.KerasTensor]) -> None:
    inputs = tf_keras.Input(INPUT)
    model = _randomise(tf_keras.Model(inputs, _tail(body(inputs))))
    folded, count = fold_batchnorm(model)
    assert count == 1
    assert _bn_names(folded) == ["bn_kept"]
    assert _max_diff(model, folded, _inputs(model)) <= ATOL


# ---------------------------------------------------------------------------------------------------------
# Graph rewiring


def test_residual_branch() -> None:
    inputs = tf_keras.Input(INPUT)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same")(inputs)))
    y = layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same", name="branch")(x))
    outputs = layers.ReLU()(layers.Add(name="add")([x, y]))
    model = _randomise(tf_keras.Model(inputs, outputs))
    folded, count = fold_batchnorm(model)
    assert count == 2
    assert _bn_count(folded) == 0
    add_inputs = [node.inbound_layers for node in folded.get_layer("add").inbound_nodes]
    assert [layer.name for layer in add_inputs[0]][1] == "branch"
    assert _max_diff(model, folded, _inputs(model)) <= ATOL


def test_bn_as_model_output() -> None:
    inputs = tf_keras.Input((6,))
    x = layers.Dense(8, activation="relu")(inputs)
    outputs = layers.BatchNormalization()(layers.Dense(4, name="last")(x))
    model = _randomise(tf_keras.Model(inputs, outputs))
    folded, count = fold_batchnorm(model)
    assert count == 1
    assert folded.output_names == ["last"]
    assert _max_diff(model, folded, _inputs(model)) <= ATOL


# ---------------------------------------------------------------------------------------------------------
# The digits CNN, and the input model


@pytest.fixture(scope="module")
def digits_cnn() -> tf_keras.Model:
    model = tf_keras.Sequential(
        [
            tf_keras.Input((8, 8, 1)),
            layers.Conv2D(16, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(32, 3),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return _randomise(model)


def test_digits_cnn(digits_cnn: tf_keras.Model) -> None:
    images = (load_digits().images[:64] / 16.0).astype(np.float32)[..., None]
    folded, count = fold_batchnorm(digits_cnn)
    assert count == 2
    assert _bn_count(folded) == 0
    assert _max_diff(digits_cnn, folded, images) <= ATOL


def test_input_model_untouched(digits_cnn: tf_keras.Model) -> None:
    before = [w.copy() for w in digits_cnn.get_weights()]
    names = [layer.name for layer in digits_cnn.layers]
    fold_batchnorm(digits_cnn)
    after = digits_cnn.get_weights()
    assert [layer.name for layer in digits_cnn.layers] == names
    assert len(after) == len(before)
    assert all(np.array_equal(a, b) for a, b in zip(after, before, strict=True))


def test_subclassed_model_refused() -> None:
    class Tiny(tf_keras.Model):
        def call(self, x: np.ndarray) -> np.ndarray:
            return x

    with pytest.raises(UnsupportedModelError) as caught:
        fold_batchnorm(Tiny(name="tiny"))
    assert str(caught.value) == (
        "Cannot fold batch norm in subclassed model 'tiny': rebuild it as a Sequential or functional "
        "tf-keras model."
    )
