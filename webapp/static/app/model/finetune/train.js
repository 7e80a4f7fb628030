// Training a layers model in the worker: freeze layers, fit with progress and cancel (the head alone on cached
// features when only the head trains, head-cache.js), accuracy on held-out samples, save the result as
// artifacts. Uses the global `tf` (loaded by the worker). Every tensor made here is disposed here.
/* global tf */
import { joinWeightData } from "./artifacts.js";
import { freezeBatchNorm, splitHead } from "./head-cache.js";
import { confusionOf } from "./holdout.js";

/** Builds a model from artifacts with only the `trainable` layers left trainable. */
export async function buildModel(artifacts, trainable) {
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const names = new Set(trainable);
  for (const layer of model.layers) layer.trainable = names.has(layer.name);
  freezeBatchNorm(model);
  return model;
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

const FEATURE_BATCH = 16;

/** split.features on rows [start, start + size) of `xs`, read back (one batch at a time). */
async function featureRows(split, xs, start, size) {
  const rows = tf.tidy(() => split.features(xs.slice(start, size)));
  try {
    await rows.data();
  } catch (error) {
    rows.dispose();
    throw error;
  }
  return rows;
}

/**
 * The frozen start's outputs for `xs`, FEATURE_BATCH samples at a time, reporting progress: on `backend`
 * (the fastest inference path: the layers only run forward, which the wasm backend does much faster than
 * tfjs's cpu backend or software WebGL), or on the current backend when that one fails to start or run.
 * The current backend is in use again on return. {features, backend} or null when `signal` aborted.
 */
async function featuresOf(split, xs, hooks, { backend = null, done, total }) {
  const { signal, onFeatures, useBackend } = hooks;
  const home = tf.getBackend();
  const parts = [];
  let on = home;
  try {
    if (backend && backend !== home && useBackend) {
      try {
        await useBackend(backend);
        parts.push(await featureRows(split, xs, 0, Math.min(FEATURE_BATCH, xs.shape[0])));
        on = backend;
      } catch (error) {
        console.warn(`the frozen layers did not run on ${backend} (${error.message}): using ${home}`);
        await useBackend(home);
      }
    }
    for (let at = parts.length ? parts[0].shape[0] : 0; at < xs.shape[0]; at += FEATURE_BATCH) {
      onFeatures?.({ done: done + at, total, backend: on });
      await breathe(); // a Cancel is seen between batches
      if (signal.aborted) return null;
      parts.push(await featureRows(split, xs, at, Math.min(FEATURE_BATCH, xs.shape[0] - at)));
    }
    const features = parts.length === 1 ? parts.pop() : tf.concat(parts);
    return { features, backend: on };
  } finally {
    tf.dispose(parts);
    if (tf.getBackend() !== home) await useBackend(home);
  }
}

/** Top-1 class of each row of `x` through `net` (inference mode). */
async function classesOf(net, x) {
  if (!x || !x.shape[0]) return [];
  const top = tf.tidy(() => net.predict(x, { batchSize: FEATURE_BATCH }).argMax(-1));
  try {
    return Array.from(await top.data());
  } finally {
    top.dispose();
  }
}

/**
 * Fits `model` on inputs (Float32Array, `shape`) and integer `targets` (one per sample), and reports accuracy
 * on the held-out `validation` samples ({inputs, targets}, may hold none) after every epoch.
 * onFeatures({done, total}) reports the frozen start's pass (head-only training), onBatch({epoch, batch,
 * batches, loss, accuracy}) and onEpoch({epoch, loss, accuracy, valLoss, valAccuracy}) the training; when
 * `signal` aborts, training stops after the current batch (`stopped: true`). `cache: false` trains the whole
 * model even when the head alone could train on cached features; `shuffle` as in tf fit(); the features are
 * computed on `featureBackend` when given (hooks.useBackend(name) switches backends).
 */
export async function fit(model, options, hooks) {
  const { inputs, shape, targets, classes, epochs, batchSize, learningRate, head } = options;
  const { validation = null, cache = true, shuffle = true, featureBackend = null } = options;
  const { signal, onBatch, onEpoch } = hooks;
  const started = performance.now();
  const held = validation ? validation.targets.length : 0;
  const optimizer = tf.train.adam(learningRate);
  const oneHot = (values) => tf.tidy(() => tf.oneHot(tf.tensor1d(values, "int32"), classes).toFloat());
  const xs = tf.tensor(inputs, shape, "float32");
  const ys = oneHot(targets);
  const vxs = held ? tf.tensor(validation.inputs, [held, ...shape.slice(1)], "float32") : null;
  const vys = held ? oneHot(validation.targets) : null;
  const batches = Math.ceil(shape[0] / batchSize);
  const history = { loss: [], accuracy: [], valLoss: [], valAccuracy: [] };
  let epochsDone = 0;
  let currentEpoch = 0;
  let featureSeconds = 0;
  let featuresOn = null;
  const split = cache ? splitHead(model) : { reason: "turned off" };
  let features = null;
  let valFeatures = null;
  const objective = lossOnLogits(model, head);
  let scores = null;
  try {
    if (split.trainer) {
      const total = shape[0] + held;
      const trained = await featuresOf(split, xs, hooks, { backend: featureBackend, done: 0, total });
      features = trained && trained.features;
      featuresOn = trained && trained.backend;
      if (features && held) {
        const use = { backend: featuresOn, done: shape[0], total };
        valFeatures = (await featuresOf(split, vxs, hooks, use))?.features ?? null;
      }
      featureSeconds = (performance.now() - started) / 1000;
    }
    // The head model shares its layers with `model`: each model holds a count on them, and a layer's weights
    // are freed when the last one is disposed (the head model first, below).
    const trainer = split.trainer || model;
    const [x, vx] = split.trainer ? [features, valFeatures] : [xs, vxs];
    if (!signal.aborted && x) {
      trainer.compile({ optimizer, loss: objective.loss, metrics: ["accuracy"] });
      await trainer.fit(x, ys, {
        epochs,
        batchSize,
        shuffle,
        validationData: held ? [vx, vys] : undefined,
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
            const step = {
              epoch,
              loss: logs.loss,
              accuracy: logs.acc ?? logs.accuracy,
              valLoss: logs.val_loss ?? null,
              valAccuracy: logs.val_acc ?? logs.val_accuracy ?? null,
            };
            for (const key of Object.keys(history)) history[key].push(step[key]);
            onEpoch(step);
          },
        },
      });
    }
    if (!signal.aborted) {
      // The final model on both splits, in inference mode: what the summary reports.
      scores = {
        training: await classesOf(trainer, x),
        validation: await classesOf(trainer, vx),
      };
    }
  } finally {
    objective.restore();
    tf.dispose([features, valFeatures, xs, ys, vxs, vys]);
    split.dispose?.();
    optimizer.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    history,
    epochs: epochsDone,
    seconds,
    featureSeconds,
    featureBackend: featuresOn,
    samplesPerSecond: seconds > 0 ? (shape[0] * epochsDone) / seconds : null,
    frozenStartCached: Boolean(split.trainer),
    notCachedBecause: split.trainer ? null : split.reason,
    training: scores && confusionOf(Array.from(targets), scores.training, classes),
    validation:
      scores && held ? confusionOf(Array.from(validation.targets), scores.validation, classes) : null,
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
