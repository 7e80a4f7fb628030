// Head-only training on cached features (what Teachable Machine does). When every layer before the first
// trainable one is frozen, that frozen start computes the same thing every epoch: it runs once per sample, in
// inference mode, and a model made of the remaining layers (the head) trains on its outputs. The head model
// reuses the full model's layer objects, so training it trains the full model's own weight variables: the
// model saved afterwards is the full model, nothing to copy back. Uses the global `tf` (the worker's).
/* global tf */

// Layers whose output in training differs from inference even when frozen (they have no weights to freeze):
// random layers and the layers that may wrap or contain them. In the frozen start, their training-mode
// randomness cannot be cached, so the model trains whole (the head is not split off).
const ACTS_IN_TRAINING = new Set([
  "Dropout",
  "SpatialDropout1D",
  "GaussianNoise",
  "GaussianDropout",
  "AlphaDropout",
  "RandomWidth",
  "RandomHeight",
  "SimpleRNN",
  "LSTM",
  "GRU",
  "RNN",
  "ConvLSTM2D",
  "Bidirectional",
  "TimeDistributed",
]);

/**
 * tf-keras semantics for a frozen BatchNormalization: it runs in inference mode, in fit() too (its moving
 * mean and variance stay as exported). tfjs-layers would normalise with the batch's statistics and update
 * the moving ones even when the layer is not trainable; this makes full-model and cached training the same.
 */
export function freezeBatchNorm(model) {
  for (const layer of model.layers) {
    if (layer.getClassName() !== "BatchNormalization" || layer.trainable) continue;
    const call = layer.call.bind(layer);
    layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
  }
}

/** The one symbolic tensor a layer was called on in the model, or null (shared layers, several inputs). */
function onlyInput(layer) {
  if (layer.inboundNodes.length !== 1) return null;
  const inputs = layer.inboundNodes[0].inputTensors;
  return inputs.length === 1 ? inputs[0] : null;
}

const isInput = (tensor) => tensor.sourceLayer.getClassName() === "InputLayer";

/**
 * Where the frozen start ends: the input of the first trainable layer with weights, moved back before the
 * weightless layers that act in training (a Dropout right before the head trains with it, as in the full model).
 * Returns {cut} or {reason} (a sentence: why the whole model trains).
 */
function findCut(model) {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return { reason: "several inputs or outputs" };
  const layers = model.layers;
  const first = layers.find((layer) => layer.trainable && layer.weights.length > 0);
  if (!first) return { reason: "no trainable layer" };
  let cut = onlyInput(first);
  if (!cut) return { reason: `${first.name} is shared or has several inputs` };
  // Back over the weightless layers right before it (Flatten, pooling, Dropout): the cut goes before the
  // earliest of them that acts in training, so that one trains with the head.
  for (let at = cut; !isInput(at) && !at.sourceLayer.weights.length; ) {
    const before = onlyInput(at.sourceLayer);
    if (!before) break;
    if (ACTS_IN_TRAINING.has(at.sourceLayer.getClassName())) cut = before;
    at = before;
  }
  if (isInput(cut)) return { reason: "nothing frozen before the first trainable layer" };
  return { cut };
}

/**
 * The layers that depend on `cut`, in model order (topological), or null when one of them also reads a
 * tensor of the frozen start (a skip connection past the cut) or is called more than once.
 */
function headLayers(model, cut) {
  const reached = new Set([cut.id]);
  const head = [];
  for (const layer of model.layers) {
    if (layer.inboundNodes.length !== 1) return null;
    const node = layer.inboundNodes[0];
    const known = node.inputTensors.map((tensor) => reached.has(tensor.id));
    if (!known.includes(true)) continue;
    if (known.includes(false)) return null;
    node.outputTensors.forEach((tensor) => reached.add(tensor.id));
    head.push(layer);
  }
  return reached.has(model.outputs[0].id) ? head : null;
}

/** The head as a model of its own: its layers applied again to a new input of the cut's shape. */
function headModel(model, cut, head) {
  const input = tf.input({ shape: cut.shape.slice(1), dtype: cut.dtype });
  const mapped = new Map([[cut.id, input]]);
  for (const layer of head) {
    const node = layer.inboundNodes[0];
    const inputs = node.inputTensors.map((tensor) => mapped.get(tensor.id));
    const outputs = [layer.apply(inputs.length === 1 ? inputs[0] : inputs, node.callArgs)].flat();
    node.outputTensors.forEach((tensor, i) => mapped.set(tensor.id, outputs[i]));
  }
  return tf.model({ inputs: input, outputs: mapped.get(model.outputs[0].id) });
}

/**
 * {features(xs) -> tensor, trainer: the head model, dispose()} when the frozen start can be cached, else
 * {reason} (why the whole model trains). features() runs the frozen start in inference mode, `batchSize`
 * samples at a time.
 */
export function splitHead(model, batchSize = 32) {
  const { cut, reason } = findCut(model);
  if (!cut) return { reason };
  const head = headLayers(model, cut);
  if (!head)
    return { reason: "a layer after the frozen start also reads the frozen start (a skip connection)" };
  const missed = model.layers.filter(
    (layer) => layer.trainable && layer.weights.length && !head.includes(layer),
  );
  if (missed.length) return { reason: `${missed[0].name} trains but is not after the frozen start` };
  const backbone = tf.model({ inputs: model.inputs, outputs: cut });
  // Frozen layers that act in training: the full model applies them at random every epoch, which cached
  // features cannot reproduce.
  const random = backbone.layers.filter((layer) => ACTS_IN_TRAINING.has(layer.getClassName()));
  if (random.length) return { reason: `the frozen layers include ${random.map((l) => l.name).join(", ")}` };
  const trainer = headModel(model, cut, head);
  return {
    trainer,
    features: (xs) => backbone.predict(xs, { batchSize }),
    // The backbone model holds no count on its layers (tf.model over existing tensors takes none), so it is
    // not disposed: that would free the full model's weights. The head model holds one (apply() took it).
    dispose: () => trainer.dispose(),
  };
}
