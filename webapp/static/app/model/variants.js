// Variant loading: the export manifests and the loaded models this worker keeps, keyed by model and variant;
// fetching and checking a variant's files (app/model/integrity.js) or reading a fine-tuned model from this
// browser, choosing the tfjs backend ("auto" measures them), and unloading. Worker only.
import { loadManifest } from "../shared/catalog.js";
import { finetunedKey, isFinetuned } from "../shared/finetuned-id.js";
import { finetunedRecord } from "./finetune/unsaved.js";
import { blankSample, runReal, timeSingle } from "./inference.js";
import { fetchVariantFiles } from "./integrity.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import * as tfliteRuntime from "./runtimes/tflite.js";
import { layersArtifacts } from "./tfjs-artifacts.js";

const manifests = new Map(); // modelId -> manifest
const loaded = new Map(); // `${modelId}/${variant}` -> {runtime, model, backend, loadMs, bytes}
const AUTO_WARMUP = 2;
const AUTO_RUNS = 5;

const keyOf = (modelId, variant) => `${modelId}/${variant}`;

export async function manifestOf(modelId) {
  if (!manifests.has(modelId)) manifests.set(modelId, await loadManifest(modelId));
  return manifests.get(modelId);
}

/** The manifest's spec of `variant`; a fine-tuned one ("ft:<key>") is a tfjs fp32 model kept in IndexedDB. */
export function variantOf(manifest, variant) {
  if (isFinetuned(variant)) return { target: "tfjs", precision: "fp32", finetuned: finetunedKey(variant) };
  const spec = manifest.variants[variant];
  if (!spec) throw new Error(`${manifest.name} has no variant ${variant}`);
  return spec;
}

/** The loaded entry of `variant` (after ensureLoaded or loadVariant), or undefined. */
export function loadedEntry(modelId, variant) {
  return loaded.get(keyOf(modelId, variant));
}

function unloadKey(key) {
  const entry = loaded.get(key);
  if (!entry) return;
  if (entry.runtime === "tfjs") tfjsRuntime.dispose(entry.model);
  else tfliteRuntime.dispose(entry.model);
  loaded.delete(key);
}

/** Frees one variant's model; its next use loads it again. */
export function unloadVariant(modelId, variant) {
  unloadKey(keyOf(modelId, variant));
}

/** Frees every model of `modelId` (of every export when null) and forgets the manifests. */
export function unloadAll(modelId = null) {
  for (const key of [...loaded.keys()]) if (!modelId || key.startsWith(`${modelId}/`)) unloadKey(key);
  if (!modelId) manifests.clear();
  else manifests.delete(modelId);
}

// One tfjs backend at a time: models loaded under another backend are reloaded under the new one.
export async function switchBackend(backend) {
  if (tfjsRuntime.currentBackend() === backend) return;
  for (const [key, entry] of loaded) if (entry.runtime === "tfjs") unloadKey(key);
  await tfjsRuntime.useBackend(backend);
}

/** The loaded entry of `variant` on `backend`, loading it first when needed. */
export async function ensureLoaded(modelId, variant, backend, onProgress) {
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const key = keyOf(modelId, variant);
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

/** "auto": the remembered backend, else the fastest on this model (each measured briefly). */
async function resolveBackend(modelId, variant, backend, remembered, progress) {
  if (backend !== "auto") return { backend };
  if (remembered && tfjsRuntime.BACKENDS.includes(remembered)) return { backend: remembered };
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const sample = blankSample(manifest);
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

/** The engine's `load` (app/shared/engine-api.js): {variant, runtime, backend, loadMs, bytes, measured}. */
export async function loadVariant({ modelId, variant, backend = "auto", remembered = null }, progress) {
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

/** A loaded variant, what loadVariant said of it, and a function that runs n samples through it. */
export async function prepare({ modelId, variant, backend = "auto", remembered = null }, progress) {
  const info = await loadVariant({ modelId, variant, backend, remembered }, progress);
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const entry = loadedEntry(modelId, variant);
  return { info, entry, run: (input, n) => runReal(manifest, spec, entry, input, n) };
}
