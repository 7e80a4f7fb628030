// Training a layers model in the worker: freeze layers, fit with progress and cancel, save the result as
// artifacts. Uses the global `tf` (loaded by the worker). Every tensor made here is disposed here.
/* global tf */
import { joinWeightData } from "./artifacts.js";

/** Builds a model from artifacts with only the `trainable` layers left trainable. */
export async function buildModel(artifacts, trainable) {
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const names = new Set(trainable);
  for (const layer of model.layers) layer.trainable = names.has(layer.name);
  return model;
}

/**
 * The frozen start of a Sequential model is run once, not every epoch: its outputs (in inference mode) are
 * the training inputs of a model made of the remaining layers, which share their weights with `model`.
 * Returns {trainer, features} (features: a tensor the caller disposes), or null when nothing is frozen
 * at the start (or the model is not a plain chain of layers).
 */
function splitFrozenStart(model, xs) {
  if (model.getClassName() !== "Sequential") return null;
  const layers = model.layers.filter((layer) => layer.getClassName() !== "InputLayer");
  const first = layers.findIndex((layer) => layer.trainable && layer.weights.length > 0);
  if (first <= 0) return null;
  const features = tf.tidy(() =>
    layers.slice(0, first).reduce((t, layer) => layer.apply(t, { training: false }), xs),
  );
  const input = tf.input({ shape: features.shape.slice(1) });
  const output = layers.slice(first).reduce((t, layer) => layer.apply(t), input);
  return { trainer: tf.model({ inputs: input, outputs: output }), features };
}

/**
 * Training works on the head's logits when the model ends in a softmax Dense layer: a base model that is
 * confidently wrong on the new data has probabilities below the 1e-7 that categoricalCrossentropy clips
 * them to, and the clip passes no gradient; softmax cross-entropy from logits always does. The softmax
 * is put back after training (restore()), so the saved model is unchanged in form.
 */
function lossOnLogits(model, head) {
  const layer = model.layers[model.layers.length - 1];
  if (!layer || layer.name !== head || layer.activation?.getClassName() !== "softmax") {
    return { loss: "categoricalCrossentropy", restore: () => {} };
  }
  const softmax = layer.activation;
  layer.activation = tf.layers.dense({ units: 1 }).activation; // linear
  return {
    loss: (labels, logits) => tf.losses.softmaxCrossEntropy(labels, logits),
    restore: () => {
      layer.activation = softmax;
    },
  };
}

// Lets the worker handle queued messages (a Cancel) between batches.
const breathe = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Fits `model` on inputs (Float32Array, `shape`) and integer `targets` (one per sample).
 * onBatch({epoch, batch, batches, loss, accuracy}) and onEpoch({epoch, loss, accuracy}) report progress;
 * when `signal` aborts, training stops after the current batch (`stopped: true`).
 */
export async function fit(
  model,
  { inputs, shape, targets, classes, epochs, batchSize, learningRate, head },
  hooks,
) {
  const { signal, onBatch, onEpoch } = hooks;
  const started = performance.now();
  const optimizer = tf.train.adam(learningRate);
  const xs = tf.tensor(inputs, shape, "float32");
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(targets, "int32"), classes).toFloat());
  const batches = Math.ceil(shape[0] / batchSize);
  const history = { loss: [], accuracy: [] };
  let epochsDone = 0;
  let currentEpoch = 0;
  let split = null;
  const objective = lossOnLogits(model, head);
  try {
    split = splitFrozenStart(model, xs);
    // The split-off model shares its layers with `model`: each model holds a reference on them, and a
    // layer's weights are freed when the last one is disposed (the split-off model first, below).
    const trainer = split ? split.trainer : model;
    trainer.compile({ optimizer, loss: objective.loss, metrics: ["accuracy"] });
    await trainer.fit(split ? split.features : xs, ys, {
      epochs,
      batchSize,
      shuffle: true,
      yieldEvery: "never",
      callbacks: {
        onEpochBegin: async (epoch) => {
          currentEpoch = epoch;
        },
        onBatchEnd: async (batch, logs) => {
          onBatch({
            epoch: currentEpoch,
            batch,
            batches,
            loss: logs.loss,
            accuracy: logs.acc ?? logs.accuracy,
          });
          await breathe();
          if (signal.aborted) trainer.stopTraining = true;
        },
        onEpochEnd: async (epoch, logs) => {
          epochsDone = epoch + 1;
          history.loss.push(logs.loss);
          history.accuracy.push(logs.acc ?? logs.accuracy);
          onEpoch({ epoch, loss: logs.loss, accuracy: logs.acc ?? logs.accuracy });
        },
      },
    });
  } finally {
    objective.restore();
    if (split) {
      split.features.dispose();
      split.trainer.dispose();
    }
    xs.dispose();
    ys.dispose();
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    history,
    epochs: epochsDone,
    seconds,
    samplesPerSecond: seconds > 0 ? (shape[0] * epochsDone) / seconds : null,
    frozenStartCached: Boolean(split),
    stopped: signal.aborted,
  };
}

/** The model's artifacts, weights as one ArrayBuffer of float32 values (nothing quantized). */
export async function toArtifacts(model) {
  let saved = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  return {
    format: saved.format || "layers-model",
    modelTopology: saved.modelTopology,
    weightSpecs: saved.weightSpecs,
    weightData: joinWeightData(saved.weightData),
  };
}
