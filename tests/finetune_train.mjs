// The app's fine-tuning code (webapp/static/app/model/finetune/train.js, head-cache.js, holdout.js) run in
// node with @tensorflow/tfjs (cpu backend), on tiny models built here. Prints one JSON object of findings for
// tests/test_finetune_train.py to judge: head weights after cached (head-only) and full-model training of the
// same head with the same random stream, frozen BatchNormalization statistics, fallbacks, the hold-out split.
//
// usage: node tests/finetune_train.mjs
import * as tf from "@tensorflow/tfjs";

globalThis.tf = tf; // the worker's global
const { buildModel, fit, toArtifacts } = await import("../webapp/static/app/model/finetune/train.js");
const { holdOut } = await import("../webapp/static/app/model/finetune/holdout.js");

/** A seeded Math.random (mulberry32): tfjs's shuffle and its unseeded Dropout draw from Math.random. */
function seedRandom(seed) {
  let a = seed >>> 0;
  Math.random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const init = (seed) => tf.initializers.glorotUniform({ seed });

/** conv -> BN -> relu -> GAP -> dropout -> softmax Dense, as a functional model (MobileNetV2's head shape). */
function functionalModel() {
  const input = tf.input({ shape: [8, 8, 1], name: "image" });
  let x = tf.layers
    .conv2d({ filters: 6, kernelSize: 3, padding: "same", kernelInitializer: init(1), name: "conv" })
    .apply(input);
  x = tf.layers.batchNormalization({ name: "bn" }).apply(x);
  x = tf.layers.reLU({ name: "relu" }).apply(x);
  x = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x);
  x = tf.layers.dropout({ rate: 0.3, name: "dropout" }).apply(x);
  const out = tf.layers
    .dense({ units: 3, activation: "softmax", kernelInitializer: init(2), name: "head" })
    .apply(x);
  return tf.model({ inputs: input, outputs: out });
}

/** The demo's Sequential shape: conv -> BN -> relu -> pool -> dropout -> flatten -> softmax Dense. */
function sequentialModel() {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 4,
        kernelSize: 3,
        padding: "same",
        kernelInitializer: init(3),
        name: "conv1",
      }),
      tf.layers.batchNormalization({ name: "bn1" }),
      tf.layers.reLU({ name: "relu1" }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
      tf.layers.dropout({ rate: 0.25, name: "dropout" }),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(4), name: "probabilities" }),
    ],
  });
}

/** A Dropout between frozen layers: its training-mode randomness cannot be cached. */
function dropoutInsideModel() {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 1],
        filters: 4,
        kernelSize: 3,
        kernelInitializer: init(5),
        name: "conv1",
      }),
      tf.layers.dropout({ rate: 0.5, name: "inner_dropout" }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, kernelInitializer: init(6), name: "conv2" }),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(7), name: "head" }),
    ],
  });
}

/** The head reads a frozen tensor other than its input (a skip connection past the cut). */
function skipModel() {
  const input = tf.input({ shape: [8, 8, 1] });
  const a = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: "same", kernelInitializer: init(8), name: "c1" })
    .apply(input);
  const b = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: "same", kernelInitializer: init(9), name: "c2" })
    .apply(a);
  const t = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(10), name: "t1" }).apply(b);
  const sum = tf.layers.add({ name: "skip" }).apply([t, a]);
  const flat = tf.layers.flatten().apply(sum);
  const out = tf.layers
    .dense({ units: 3, activation: "softmax", kernelInitializer: init(11), name: "head" })
    .apply(flat);
  return tf.model({ inputs: input, outputs: out });
}

/** Exported-model-like artifacts, with BN statistics far from the identity so frozen vs batch stats differ. */
async function artifactsOf(model) {
  for (const layer of model.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    const [gamma, beta, mean] = layer.getWeights();
    const n = mean.shape[0];
    layer.setWeights([
      tf.fill(gamma.shape, 1.5),
      tf.fill(beta.shape, 0.2),
      tf.linspace(-0.5, 0.5, n),
      tf.linspace(0.5, 2, n),
    ]);
  }
  const artifacts = await toArtifacts(model);
  model.dispose();
  return artifacts;
}

function data(count, classes, seed) {
  seedRandom(seed);
  const inputs = Float32Array.from({ length: count * 64 }, () => Math.random());
  const targets = Int32Array.from({ length: count }, (_, i) => i % classes);
  return { inputs, targets };
}

/** {"layer/0": values, ...}: the weights of the named layers, by layer and position (tfjs may rename variables). */
const weightsOf = (model, names) =>
  Object.fromEntries(
    names.flatMap((name) =>
      model.getLayer(name).weights.map((w, i) => [`${name}/${i}`, Array.from(w.read().dataSync())]),
    ),
  );

/** Trains `trainable` of fresh copies of `artifacts` with the same random stream; returns what is compared. */
async function trainOnce(artifacts, trainable, { cache, head, watch, epochs = 4, probe = false }) {
  const before = tf.memory().numTensors;
  const model = await buildModel(artifacts, trainable);
  const train = data(40, 3, 11);
  const validation = data(9, 3, 12);
  seedRandom(99);
  const result = await fit(
    model,
    {
      ...train,
      shape: [40, 8, 8, 1],
      classes: 3,
      epochs,
      batchSize: 8,
      learningRate: 0.05,
      head,
      validation,
      cache,
      featureBackend: probe ? "cpu-again" : null,
    },
    {
      signal: new AbortController().signal,
      onBatch: () => {},
      onEpoch: () => {},
      // node has one backend: "cpu-again" takes the other-backend path (features in several parts).
      useBackend: probe ? async () => tf.setBackend("cpu") : undefined,
    },
  );
  const weights = weightsOf(model, [...trainable, ...watch]);
  model.dispose();
  return { result, weights, leaked: tf.memory().numTensors - before };
}

function maxDiff(a, b) {
  let max = 0;
  for (const name of Object.keys(a))
    a[name].forEach((v, i) => (max = Math.max(max, Math.abs(v - b[name][i]))));
  return max;
}

async function parity(build, trainable, head, watch) {
  const artifacts = await artifactsOf(build());
  const initial = await buildModel(artifacts, trainable);
  const start = weightsOf(initial, [...trainable, ...watch]);
  initial.dispose();
  const cached = await trainOnce(artifacts, trainable, { cache: true, head, watch });
  const full = await trainOnce(artifacts, trainable, { cache: false, head, watch });
  const probed = await trainOnce(artifacts, trainable, { cache: true, head, watch, probe: true });
  const headNames = Object.keys(start).filter((n) => trainable.some((t) => n.startsWith(`${t}/`)));
  const frozenNames = Object.keys(start).filter((n) => !headNames.includes(n));
  const pickNames = (w, names) => Object.fromEntries(names.map((n) => [n, w[n]]));
  return {
    cached: cached.result.frozenStartCached,
    full: full.result.frozenStartCached,
    headDiff: maxDiff(pickNames(cached.weights, headNames), pickNames(full.weights, headNames)),
    probedDiff: maxDiff(pickNames(probed.weights, headNames), pickNames(full.weights, headNames)),
    probedBackend: probed.result.featureBackend,
    headMoved: maxDiff(pickNames(cached.weights, headNames), pickNames(start, headNames)),
    frozenMovedCached: maxDiff(pickNames(cached.weights, frozenNames), pickNames(start, frozenNames)),
    frozenMovedFull: maxDiff(pickNames(full.weights, frozenNames), pickNames(start, frozenNames)),
    valAccuracy: [cached.result.history.valAccuracy, full.result.history.valAccuracy],
    validation: cached.result.validation,
    leaked: [cached.leaked, full.leaked, probed.leaked],
  };
}

/** What tfjs does by itself: fit() of a model whose BN is not trainable still moves its moving statistics. */
async function plainTfjsMovesFrozenBatchNorm() {
  const artifacts = await artifactsOf(functionalModel());
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  for (const layer of model.layers) layer.trainable = layer.name === "head";
  const before = model.getLayer("bn").getWeights()[2].arraySync();
  model.compile({ optimizer: "adam", loss: "categoricalCrossentropy" });
  const { inputs, targets } = data(16, 3, 5);
  const xs = tf.tensor(inputs, [16, 8, 8, 1]);
  const ys = tf.oneHot(tf.tensor1d(targets, "int32"), 3).toFloat();
  await model.fit(xs, ys, { epochs: 1, batchSize: 8 });
  const after = model.getLayer("bn").getWeights()[2].arraySync();
  tf.dispose([xs, ys]);
  model.dispose();
  return Math.max(...before.map((v, i) => Math.abs(v - after[i])));
}

async function fallback(build, trainable, head) {
  const artifacts = await artifactsOf(build());
  const { result, leaked } = await trainOnce(artifacts, trainable, {
    cache: true,
    head,
    watch: [],
    epochs: 1,
  });
  return { cached: result.frozenStartCached, reason: result.notCachedBecause, leaked };
}

function split(counts) {
  const targets = counts.flatMap((n, label) => new Array(n).fill(label));
  const { train, validation, note } = holdOut(targets, counts.length);
  const held = counts.map((_, label) => validation.filter((i) => targets[i] === label).length);
  return { held, train: train.length, validation: validation.length, note };
}

await tf.setBackend("cpu");
const out = {
  functional: await parity(functionalModel, ["head"], "head", ["bn"]),
  sequential: await parity(sequentialModel, ["probabilities"], "probabilities", ["bn1", "conv1"]),
  dropoutInside: await fallback(dropoutInsideModel, ["head"], "head"),
  skip: await fallback(skipModel, ["t1", "head"], "head"),
  plainTfjsBatchNormMoved: await plainTfjsMovesFrozenBatchNorm(),
  splits: {
    mixed: split([20, 7, 2, 1, 0]),
    singles: split([1, 1, 1]),
  },
};
process.stdout.write(`${JSON.stringify(out)}\n`);
