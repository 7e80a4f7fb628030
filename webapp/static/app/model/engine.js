// The engine: loads variants, runs them, compares them and checks them against their parity fixtures.
// Runs in the worker (app/worker/engine.worker.js) behind the bridge; no DOM. See app/shared/engine-api.js.

import { checkAborted } from "../shared/bridge.js";
import { decodeArray, sliceRows } from "./codec.js";
import { inputSize, loadManifest, referenceVariant, variantIds } from "./catalog.js";
import { finetuneHandlers, FINETUNED_PREFIX, isFinetuned } from "./finetune/handlers.js";
import { finetunedRecord } from "./finetune/unsaved.js";
import { fetchExportJson, fetchVariantFiles } from "./integrity.js";
import { agreement, argmaxRows, maxAbsDiff, median } from "./metrics.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import * as tfliteRuntime from "./runtimes/tflite.js";
import { layersArtifacts } from "./tfjs-artifacts.js";

const manifests = new Map(); // modelId -> manifest
const loaded = new Map(); // `${modelId}/${variant}` -> {runtime, model, backend, loadMs, bytes}
const AUTO_WARMUP = 2;
const AUTO_RUNS = 5;
const BATCH = 32;

async function manifestOf(modelId) {
  if (!manifests.has(modelId)) manifests.set(modelId, await loadManifest(modelId));
  return manifests.get(modelId);
}

function variantOf(manifest, variant) {
  // "ft:<key>": a model fine-tuned in this browser from this export, kept in IndexedDB.
  if (isFinetuned(variant)) {
    return { target: "tfjs", precision: "fp32", finetuned: variant.slice(FINETUNED_PREFIX.length) };
  }
  const spec = manifest.variants[variant];
  if (!spec) throw new Error(`${manifest.name} has no variant ${variant}`);
  return spec;
}

function unloadEntry(key) {
  const entry = loaded.get(key);
  if (!entry) return;
  if (entry.runtime === "tfjs") tfjsRuntime.dispose(entry.model);
  else tfliteRuntime.dispose(entry.model);
  loaded.delete(key);
}

// One tfjs backend at a time: models loaded under another backend are reloaded under the new one.
async function switchBackend(backend) {
  if (tfjsRuntime.currentBackend() === backend) return;
  for (const [key, entry] of loaded) if (entry.runtime === "tfjs") unloadEntry(key);
  await tfjsRuntime.useBackend(backend);
}

async function ensureLoaded(modelId, variant, backend, onProgress) {
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const key = `${modelId}/${variant}`;
  if (spec.target === "tfjs") await switchBackend(backend);
  const existing = loaded.get(key);
  if (existing) return existing;
  const started = performance.now();
  let model;
  if (spec.finetuned) {
    model = await tfjsRuntime.loadArtifacts((await finetunedRecord(spec.finetuned)).artifacts);
  } else {
    // The runtimes get only bytes that passed their check against the manifest (app/model/integrity.js).
    const files = await fetchVariantFiles(modelId, spec, onProgress);
    model =
      spec.target === "tfjs"
        ? await tfjsRuntime.loadArtifacts(layersArtifacts(files, spec.entry))
        : await tfliteRuntime.load(files.get(spec.entry).buffer);
  }
  const entry = {
    runtime: spec.target,
    model,
    backend: spec.target === "tfjs" ? backend : "tflite",
    loadMs: performance.now() - started,
    bytes: spec.bytes,
  };
  loaded.set(key, entry);
  return entry;
}

/** Runs n samples (float32 inputs, real values) and returns real-valued outputs. */
async function runReal(manifest, spec, entry, input, n) {
  if (spec.target === "tfjs") {
    const shape = [n, ...manifest.input.shape.slice(1)];
    return tfjsRuntime.predict(entry.model, input, shape);
  }
  const raw = spec.input_quantization ? tfliteRuntime.quantize(input, spec.input_quantization) : input;
  const out = tfliteRuntime.predict(entry.model, raw, n, spec.output_dtype);
  return spec.output_quantization ? tfliteRuntime.dequantize(out, spec.output_quantization) : out;
}

async function runBatched(manifest, spec, entry, inputs, signal, onBatch) {
  const n = inputs.shape[0];
  const per = inputSize(manifest);
  const classes = manifest.output.shape[manifest.output.shape.length - 1];
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += BATCH) {
    checkAborted(signal);
    const end = Math.min(n, start + BATCH);
    const batch = inputs.data.subarray(start * per, end * per);
    out.set(await runReal(manifest, spec, entry, batch, end - start), start * classes);
    if (onBatch) onBatch(end / n);
  }
  return out;
}

async function timeSingle(manifest, spec, entry, sample, warmup, runs) {
  for (let i = 0; i < warmup; i += 1) await runReal(manifest, spec, entry, sample, 1);
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await runReal(manifest, spec, entry, sample, 1);
    times.push(performance.now() - started);
  }
  return median(times);
}

/** "auto": the remembered backend, else the fastest on this model (each measured briefly). */
async function resolveBackend(modelId, variant, backend, remembered, progress) {
  if (backend !== "auto") return { backend };
  if (remembered && tfjsRuntime.BACKENDS.includes(remembered)) return { backend: remembered };
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const sample = new Float32Array(inputSize(manifest)).fill(manifest.preprocessing?.range?.[0] ?? 0);
  const measured = {};
  let index = 0;
  for (const candidate of tfjsRuntime.BACKENDS) {
    if (progress)
      progress({ done: index, total: tfjsRuntime.BACKENDS.length, label: `measuring ${candidate}` });
    index += 1;
    try {
      await switchBackend(candidate);
      const entry = await ensureLoaded(modelId, variant, candidate);
      measured[candidate] = await timeSingle(manifest, spec, entry, sample, AUTO_WARMUP, AUTO_RUNS);
    } catch (error) {
      // A refused file fails every backend alike: say so, not "no backend could run this model".
      if (error.name === "IntegrityError") throw error;
      measured[candidate] = null;
      console.warn(`auto backend: ${candidate} failed: ${error.message}`);
    }
  }
  const usable = Object.entries(measured).filter(([, ms]) => ms !== null);
  if (!usable.length) throw new Error("no tfjs backend could run this model");
  usable.sort((a, b) => a[1] - b[1]);
  return { backend: usable[0][0], measured };
}

async function loadVariant({ modelId, variant, backend = "auto", remembered = null }, progress) {
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  let chosen = { backend: "tflite" };
  if (spec.target === "tfjs") chosen = await resolveBackend(modelId, variant, backend, remembered, progress);
  const entry = await ensureLoaded(modelId, variant, chosen.backend, (fraction) =>
    progress({ done: fraction, total: 1, label: `loading ${variant}` }),
  );
  return {
    variant,
    runtime: spec.target,
    backend: entry.backend,
    loadMs: entry.loadMs,
    bytes: entry.bytes,
    measured: chosen.measured || null,
  };
}

/** A loaded variant and a function that runs n samples through it (used by the fine-tuning methods). */
async function prepare({ modelId, variant, backend }, progress) {
  await loadVariant({ modelId, variant, backend }, progress);
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const entry = loaded.get(`${modelId}/${variant}`);
  return { entry, run: (input, n) => runReal(manifest, spec, entry, input, n) };
}

export const handlers = {
  ...finetuneHandlers({ manifestOf, switchBackend, prepare }),

  async init() {
    const [wasmThreads, tflite] = await Promise.all([
      tfjsRuntime.wasmThreads().catch(() => false),
      tfliteRuntime.features().catch(() => ({ simd: false, multiThreading: false })),
    ]);
    let wasmThreadCount = null;
    let wasmError = null;
    try {
      wasmThreadCount = await tfjsRuntime.wasmThreadCount();
    } catch (error) {
      wasmError = error.message;
    }
    return {
      crossOriginIsolated: Boolean(self.crossOriginIsolated),
      wasmThreads,
      wasmThreadCount,
      wasmError,
      tflite,
      cores: self.navigator.hardwareConcurrency || 1,
    };
  },

  async load(args, { progress }) {
    return loadVariant(args, progress);
  },

  async predict(args, { progress }) {
    const info = await loadVariant(args, progress);
    const manifest = await manifestOf(args.modelId);
    const spec = variantOf(manifest, args.variant);
    const entry = loaded.get(`${args.modelId}/${args.variant}`);
    const started = performance.now();
    const scores = await runReal(manifest, spec, entry, Float32Array.from(args.input), 1);
    return { scores, latencyMs: performance.now() - started, backend: info.backend, measured: info.measured };
  },

  async compare({ modelId, backend = "auto", remembered = null, runs = 20 }, { progress, signal }) {
    const manifest = await manifestOf(modelId);
    const ids = variantIds(manifest);
    const evalData = manifest.eval ? await fetchExportJson(modelId, manifest.eval) : null;
    const inputs = evalData ? decodeArray(evalData.inputs) : null;
    const labels = evalData ? decodeArray(evalData.labels).data : null;
    const classes = manifest.output.shape[manifest.output.shape.length - 1];
    const reference = referenceVariant(manifest);
    const order = [reference, ...ids.filter((id) => id !== reference)];
    const total = order.length;
    let referenceTop1 = null;
    const rows = [];
    for (const [index, variant] of order.entries()) {
      checkAborted(signal);
      const spec = manifest.variants[variant];
      const step = (fraction, label) =>
        progress({ done: index + fraction, total, label: `${variant}: ${label}` });
      try {
        unloadEntry(`${modelId}/${variant}`); // measure a real load (from the cache when offline)
        const info = await loadVariant({ modelId, variant, backend, remembered }, (p) =>
          step(0.3 * (p.done / (p.total || 1)), "loading"),
        );
        const entry = loaded.get(`${modelId}/${variant}`);
        const sample = inputs
          ? sliceRows(inputs, 0, 1).data
          : new Float32Array(inputSize(manifest)).fill(manifest.preprocessing?.range?.[0] ?? 0);
        step(0.3, "latency");
        const medianMs = await timeSingle(manifest, spec, entry, Float32Array.from(sample), 2, runs);
        let accuracy = null;
        let agree = null;
        if (inputs) {
          const out = await runBatched(manifest, spec, entry, inputs, signal, (f) =>
            step(0.5 + 0.5 * f, "eval"),
          );
          const top1 = argmaxRows(out, classes);
          accuracy = labels ? agreement(top1, labels) : null;
          if (variant === reference) referenceTop1 = top1;
          agree = referenceTop1 ? agreement(top1, referenceTop1) : null;
        }
        rows.push({
          variant,
          target: spec.target,
          precision: spec.precision,
          backend: info.backend,
          bytes: spec.bytes,
          loadMs: info.loadMs,
          medianMs,
          agreement: agree,
          accuracy,
          reference: variant === reference,
          error: null,
        });
      } catch (error) {
        if (error.name === "AbortError") throw error;
        rows.push({
          variant,
          target: spec.target,
          precision: spec.precision,
          bytes: spec.bytes,
          error: error.message,
        });
      }
    }
    progress({ done: total, total, label: "done" });
    return rows;
  },

  async selfTest({ modelId, backends = tfjsRuntime.BACKENDS, variants = null }, { progress, signal }) {
    const manifest = await manifestOf(modelId);
    const ids = variants || variantIds(manifest);
    const jobs = [];
    for (const variant of ids) {
      const spec = variantOf(manifest, variant);
      if (spec.target === "tfjs") for (const backend of backends) jobs.push({ variant, spec, backend });
      else jobs.push({ variant, spec, backend: "tflite" });
    }
    const classes = manifest.output.shape[manifest.output.shape.length - 1];
    const rows = [];
    for (const [index, { variant, spec, backend }] of jobs.entries()) {
      checkAborted(signal);
      progress({ done: index, total: jobs.length, label: `${variant} on ${backend}` });
      const row = {
        variant,
        runtime: spec.target,
        backend,
        maxAbsDiff: null,
        top1: null,
        pass: false,
        error: null,
      };
      try {
        const fixture = await fetchExportJson(modelId, spec.parity);
        const inputs = decodeArray(fixture.inputs);
        const expected = decodeArray(fixture.outputs);
        const n = inputs.shape[0];
        const entry = await ensureLoaded(modelId, variant, backend);
        let actual;
        if (spec.target === "tfjs") {
          row.tolerance = tfjsRuntime.TOLERANCE[backend];
          actual = await tfjsRuntime.predict(entry.model, inputs.data, inputs.shape);
        } else {
          // The fixture holds the raw tensors (int8 for int8 models): fed and compared as they are.
          row.tolerance =
            expected.dtype === "float32" ? tfliteRuntime.TOLERANCE.float : tfliteRuntime.TOLERANCE.int8;
          actual = tfliteRuntime.predict(entry.model, inputs.data, n, expected.dtype);
        }
        row.maxAbsDiff = maxAbsDiff(actual, expected.data);
        row.top1 = agreement(argmaxRows(actual, classes), argmaxRows(expected.data, classes));
        row.samples = n;
        row.pass = row.maxAbsDiff <= row.tolerance && row.top1 === 1;
      } catch (error) {
        if (error.name === "AbortError") throw error;
        row.error = error.message;
      }
      rows.push(row);
    }
    progress({ done: jobs.length, total: jobs.length, label: "done" });
    return rows;
  },

  async memory() {
    return tfjsRuntime.memory();
  },

  async unload({ modelId = null, variant = null } = {}) {
    if (modelId && variant) {
      unloadEntry(`${modelId}/${variant}`);
      return null;
    }
    for (const key of [...loaded.keys()]) if (!modelId || key.startsWith(`${modelId}/`)) unloadEntry(key);
    if (!modelId) manifests.clear();
    else manifests.delete(modelId);
    return null;
  },
};
