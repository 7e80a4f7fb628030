// The engine's fine-tuning methods (app/shared/engine-api.js): describe the layers, train, predict a batch.
// Worker only; the export's models and the tfjs backend come from app/model/variants.js.
import { checkAborted } from "../../shared/bridge.js";
import { labelsOf } from "../../shared/catalog.js";
import { finetunedKey, isFinetuned } from "../../shared/finetuned-id.js";
import { newKey, saveFinetuned } from "../../shared/store.js";
import { fetchVariantFiles } from "../integrity.js";
import { layersArtifacts } from "../tfjs-artifacts.js";
import { manifestOf, prepare, switchBackend } from "../variants.js";
import { growHead, headOf, weightedLayers } from "./artifacts.js";
import { holdOut, pick } from "./holdout.js";
import { buildModel, fit, toArtifacts } from "./train.js";
import { finetunedRecord, keepUnsaved, saveUnsaved } from "./unsaved.js";

export const BASE_VARIANT = "tfjs-fp32"; // the server accepts fine-tunes of this variant (FINETUNE_API.md)
// The wasm backend lacks gradient ops. webgpu trains like cpu: measured in SwiftShader on the demo CNN (3
// epochs, 30 Adam steps, Dropout off), its batch losses stay within 0.24 % of cpu's and its final weights
// within 4.5e-4 (webgl: 48 % and 2.0e-2), whole model or head only. It is offered where there is an adapter;
// "auto" keeps webgl, else cpu.
const TRAIN_BACKENDS = ["webgl", "cpu", "webgpu"];
const AUTO_TRAIN_BACKENDS = ["webgl", "cpu"];
const FEATURE_BACKENDS = ["wasm", "webgl", "cpu", "webgpu"]; // for the frozen layers' one forward pass
const MAX_CALIBRATION = 2000;

/** The artifacts a fine-tune starts from: the export's float32 TFJS model or a saved fine-tuned one. */
async function startArtifacts(modelId, start) {
  const manifest = await manifestOf(modelId);
  if (isFinetuned(start)) {
    const { summary, artifacts } = await finetunedRecord(finetunedKey(start));
    return { manifest, artifacts, labels: summary.labels, name: summary.name };
  }
  const spec = manifest.variants[BASE_VARIANT];
  if (!spec) throw new Error(`${manifest.name} has no ${BASE_VARIANT} variant to fine-tune`);
  const artifacts = layersArtifacts(await fetchVariantFiles(modelId, spec), spec.entry);
  return {
    manifest,
    artifacts,
    labels: labelsOf(manifest),
    name: manifest.name,
  };
}

/** webgl, cpu or webgpu: "auto" takes webgl when it starts here, else cpu. Returns the backend in use. */
async function trainingBackend(backend) {
  const choices = backend === "auto" ? AUTO_TRAIN_BACKENDS : [backend];
  if (!choices.every((name) => TRAIN_BACKENDS.includes(name))) {
    throw new Error(
      `training runs on webgl, cpu or webgpu (the wasm backend lacks gradient ops), not ${backend}`,
    );
  }
  let failure = null;
  for (const name of choices) {
    try {
      await switchBackend(name);
      return name;
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

function calibrationSamples(inputs, shape) {
  const n = Math.min(shape[0], MAX_CALIBRATION);
  const per = inputs.length / shape[0];
  return { shape: [n, ...shape.slice(1)], data: inputs.slice(0, n * per).buffer };
}

export const finetuneHandlers = {
  /** {layers: [{name, className, params, head}], labels, head, startName} */
  async finetuneSetup({ modelId, start = "export" }) {
    const { artifacts, labels, name } = await startArtifacts(modelId, start);
    return {
      layers: weightedLayers(artifacts),
      labels,
      head: headOf(artifacts.modelTopology),
      startName: name,
    };
  },

  async train(args, { progress, signal }) {
    const { modelId, start = "export", labels, trainable, epochs, batchSize, learningRate } = args;
    const inputs = Float32Array.from(args.inputs);
    const targets = Int32Array.from(args.targets);
    if (!targets.length) throw new Error("add samples before training");
    const base = await startArtifacts(modelId, start);
    const grown = growHead(base.artifacts, labels.length);
    const per = inputs.length / targets.length;
    // 15 % of each class held out: the accuracy reported is measured on samples training never saw.
    const split = holdOut(Array.from(targets), labels.length);
    const trainSet = pick(inputs, targets, split.train, per);
    const heldOut = pick(inputs, targets, split.validation, per);
    const shape = [trainSet.targets.length, ...base.manifest.input.shape.slice(1)];
    const backend = await trainingBackend(args.backend || "auto");
    checkAborted(signal);
    const model = await buildModel(grown, trainable);
    let result;
    let artifacts;
    try {
      const total = epochs;
      progress({ done: 0, total, label: `training on ${backend}`, backend });
      const features = (step) =>
        progress({
          done: 0,
          total,
          label: `running the frozen layers once: ${step.done}/${step.total} samples`,
          backend,
        });
      const report = (kind) => (step) =>
        progress({
          done: step.epoch + (kind === "batch" ? (step.batch + 1) / step.batches : 1),
          total,
          kind,
          backend,
          ...step,
        });
      result = await fit(
        model,
        {
          inputs: trainSet.inputs,
          shape,
          targets: trainSet.targets,
          validation: heldOut,
          classes: labels.length,
          epochs,
          batchSize,
          learningRate,
          head: headOf(grown.modelTopology).name,
          // The frozen layers only run forward: the page's fastest inference backend for this model (the
          // inference view's "auto" pick), else wasm (no gradient ops, but the fastest forward on a CPU).
          featureBackend: FEATURE_BACKENDS.includes(args.featureBackend) ? args.featureBackend : "wasm",
          cache: args.cache !== false, // false: the whole model trains (for comparisons)
        },
        {
          signal,
          onFeatures: features,
          onBatch: report("batch"),
          onEpoch: report("epoch"),
          useBackend: switchBackend,
        },
      );
      checkAborted(signal);
      artifacts = await toArtifacts(model);
    } finally {
      model.dispose();
    }
    const summary = {
      key: newKey(),
      name: args.name || `${base.manifest.name} fine-tuned`,
      created: new Date().toISOString(),
      baseId: modelId,
      baseName: base.manifest.name,
      startedFrom: base.name,
      labels,
      trained: trainable,
      backend,
      samples: targets.length,
      trainingSamples: trainSet.targets.length,
      heldOut: heldOut.targets.length,
      holdOutNote: split.note,
      epochs: result.epochs,
      batchSize,
      learningRate,
      seconds: result.seconds,
      samplesPerSecond: result.samplesPerSecond,
      frozenStartCached: result.frozenStartCached,
      notCachedBecause: result.notCachedBecause,
      featureSeconds: result.featureSeconds,
      featureBackend: result.featureBackend,
      training: result.training,
      validation: result.validation,
      history: result.history,
      bytes: artifacts.weightData.byteLength,
    };
    // All the samples (held-out ones too) calibrate the server's int8 conversion.
    const samples = calibrationSamples(inputs, [targets.length, ...shape.slice(1)]);
    try {
      await saveFinetuned(summary, artifacts, samples);
    } catch (error) {
      // Not saved (the quota, most often): the trained model stays usable in this session.
      keepUnsaved(summary, artifacts, samples);
      return { ...summary, unsaved: true, saveError: error.message || String(error) };
    }
    return summary;
  },

  /** Saves the models that `train` could not: {saved: [summary], error: message | null}. */
  async saveUnsaved() {
    return saveUnsaved();
  },

  /** Runs `count` samples through any variant (a saved fine-tuned one too): {scores, classes, backend}. */
  async predictBatch({ modelId, variant, backend = "cpu", inputs, count }, { progress }) {
    const { entry, run } = await prepare({ modelId, variant, backend }, progress);
    const scores = await run(Float32Array.from(inputs), count);
    return { scores, classes: scores.length / count, backend: entry.backend };
  },
};
