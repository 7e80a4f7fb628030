// Variant loading: the export manifests and the loaded models this worker keeps, keyed by model and variant;
// fetching and checking a variant's files (app/model/integrity.js) or reading a fine-tuned model from this
// browser, choosing the backend ("auto" measures them), and unloading. TFJS variants run on tfjs (loaded into
// the worker on first use), .tflite variants on LiteRT.js (its browser-facing file, manifest `browser`:
// batch 1, float32 input and output). Worker only.
import { loadManifest } from "../shared/catalog.js";
import { finetunedKey, isFinetuned } from "../shared/finetuned-id.js";
import { markOnce } from "../shared/marks.js";
import { finetunedRecord } from "./finetune/unsaved.js";
import { blankSample, runReal, timeSingle } from "./inference.js";
import { fetchVariantFiles } from "./integrity.js";
import * as litertRuntime from "./runtimes/litert.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import { ensureTfjs } from "./runtimes/tfjs-scripts.js";
import { layersArtifacts } from "./tfjs-artifacts.js";

const manifests = new Map(); // modelId -> manifest
// "auto" picks measured in this worker: {backend, measured}. A later "auto" call for the same variant (the
// page's, after the warm-up measured it: app/model/warmup.js) gets the same answer without measuring again.
const autoPicks = new Map();
const loaded = new Map(); // `${modelId}/${variant}` -> {runtime, model, backend, requested, loadMs, bytes}
const AUTO_WARMUP = 2;
const AUTO_RUNS = 5;

const keyOf = (modelId, variant) => `${modelId}/${variant}`;

/** "tfjs" for TFJS variants (and fine-tuned ones), "litert" for .tflite variants. */
export const runtimeOf = (spec) => (spec.target === "tflite" ? "litert" : "tfjs");

/**
 * A .tflite variant without its browser-facing file (manifest `browser`): an export written before there was
 * one, or one whose export could not make it (`browser_skipped` says why). One line, per variant.
 */
export class OutdatedExportError extends Error {
  constructor(skipped = null) {
    super(
      skipped
        ? `no browser file for this variant, so it runs only outside the browser: ${skipped}`
        : "this export predates the browser's TFLite runtime: export it again with this edgeship",
    );
    this.name = "OutdatedExportError";
  }
}

/** What the browser downloads and runs for `spec`: the variant itself, or a .tflite variant's `browser` file. */
export function browserFilesOf(spec) {
  if (spec.target !== "tflite") return spec;
  if (!spec.browser || !spec.browser.entry) throw new OutdatedExportError(spec.browser_skipped || null);
  return spec.browser;
}

// A .tflite variant asked for a tfjs-only backend (a page that sends its tfjs choice) runs on LiteRT's wasm.
const litertBackend = (backend) => (litertRuntime.BACKENDS.includes(backend) ? backend : "wasm");

/** Keeps `manifest` as `modelId`'s, unless one is kept already (the warm-up's, fetched early). */
export function rememberManifest(modelId, manifest) {
  if (manifest && manifest.format === "edgeship-export" && !manifests.has(modelId)) {
    manifests.set(modelId, manifest);
  }
}

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

// leak: forget the model without freeing it. Only for e2e/memory.spec.js, to show that its measurement
// sees a model that is not freed.
function unloadKey(key, { leak = false } = {}) {
  const entry = loaded.get(key);
  if (!entry) return;
  if (!leak) {
    if (entry.runtime === "tfjs") tfjsRuntime.dispose(entry.model);
    else litertRuntime.dispose(entry.model);
  }
  loaded.delete(key);
}

/** Frees one variant's model; its next use loads it again. */
export function unloadVariant(modelId, variant, options = {}) {
  unloadKey(keyOf(modelId, variant), options);
}

/** Frees every model of `modelId` (of every export when null) and forgets the manifests. */
export function unloadAll(modelId = null) {
  for (const key of [...loaded.keys()]) if (!modelId || key.startsWith(`${modelId}/`)) unloadKey(key);
  if (!modelId) manifests.clear();
  else manifests.delete(modelId);
}

// One tfjs backend at a time: models loaded under another backend are reloaded under the new one.
export async function switchBackend(backend) {
  ensureTfjs();
  if (tfjsRuntime.currentBackend() === backend) return;
  for (const [key, entry] of loaded) if (entry.runtime === "tfjs") unloadKey(key);
  await tfjsRuntime.useBackend(backend);
}

/** The loaded entry of `variant` on `backend`, loading it first when needed. */
export async function ensureLoaded(modelId, variant, backend, onProgress) {
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const key = keyOf(modelId, variant);
  const runtime = runtimeOf(spec);
  const wanted = runtime === "tfjs" ? backend : litertBackend(backend);
  if (runtime === "tfjs") await switchBackend(wanted);
  const existing = loaded.get(key);
  // One LiteRT.js model per variant: compiled for one accelerator, recompiled for another.
  if (existing && existing.requested === wanted) return existing;
  if (existing) unloadKey(key);
  // LiteRT.js 2.5.3 hangs compiling a third model while two are loaded on webgpu: keep one there at a time.
  if (runtime === "litert" && wanted === "webgpu") {
    for (const [other, entry] of loaded) {
      if (entry.runtime === "litert" && entry.requested === "webgpu") unloadKey(other);
    }
  }
  const started = performance.now();
  let model;
  if (spec.finetuned) {
    model = await tfjsRuntime.loadArtifacts((await finetunedRecord(spec.finetuned)).artifacts);
  } else {
    // The runtimes get only bytes that passed their check against the manifest (app/model/integrity.js).
    const browser = browserFilesOf(spec);
    // LiteRT.js's wasm (9 MB) compiles while the model file downloads and is checked.
    if (runtime === "litert") litertRuntime.ready().catch(() => {}); // its error comes from load() below
    const files = await fetchVariantFiles(modelId, browser, onProgress);
    model =
      runtime === "tfjs"
        ? await tfjsRuntime.loadArtifacts(layersArtifacts(files, browser.entry))
        : await litertRuntime.load(files.get(browser.entry), wanted);
  }
  markOnce("edgeship:model-ready");
  const entry = {
    runtime,
    model,
    backend: runtime === "tfjs" ? wanted : model.backend,
    requested: wanted,
    loadMs: performance.now() - started,
    bytes: spec.finetuned ? spec.bytes : browserFilesOf(spec).bytes,
  };
  loaded.set(key, entry);
  return entry;
}

/** The backends "auto" measures for `spec`: tfjs's (webgpu where there is an adapter) or LiteRT.js's. */
async function candidatesOf(spec) {
  if (runtimeOf(spec) === "tfjs") {
    return tfjsRuntime.availableBackends ? tfjsRuntime.availableBackends() : [...tfjsRuntime.BACKENDS];
  }
  const { webgpu } = await litertRuntime.features();
  return webgpu ? ["wasm", "webgpu"] : ["wasm"];
}

/** "auto": the remembered backend, else the fastest on this model (each measured briefly). */
async function resolveBackend(modelId, variant, backend, remembered, progress) {
  const manifest = await manifestOf(modelId);
  const spec = variantOf(manifest, variant);
  const runtime = runtimeOf(spec);
  if (backend !== "auto") return { backend: runtime === "tfjs" ? backend : litertBackend(backend) };
  if (runtime === "litert") browserFilesOf(spec); // an old export fails here, once, not per backend
  const candidates = await candidatesOf(spec);
  if (remembered && candidates.includes(remembered)) return { backend: remembered };
  const known = autoPicks.get(keyOf(modelId, variant));
  if (known && candidates.includes(known.backend)) return known;
  // One candidate (LiteRT.js without WebGPU): nothing to measure, and the first prediction waits for nothing.
  if (candidates.length === 1) return { backend: candidates[0] };
  const sample = blankSample(manifest);
  const measured = {};
  for (const [index, candidate] of candidates.entries()) {
    if (progress) progress({ done: index, total: candidates.length, label: `measuring ${candidate}` });
    try {
      if (runtime === "tfjs") await switchBackend(candidate);
      const entry = await ensureLoaded(modelId, variant, candidate);
      measured[candidate] = await timeSingle(manifest, spec, entry, sample, AUTO_WARMUP, AUTO_RUNS);
    } catch (error) {
      // A refused file fails every backend alike: say so, not "no backend could run this model".
      if (error.name === "IntegrityError" || error.name === "OutdatedExportError") throw error;
      measured[candidate] = null;
      console.warn(`auto backend: ${candidate} failed: ${error.message}`);
    }
  }
  const usable = Object.entries(measured).filter(([, ms]) => ms !== null);
  if (!usable.length)
    throw new Error(`no ${runtime === "tfjs" ? "tfjs" : "LiteRT.js"} backend could run this model`);
  usable.sort((a, b) => a[1] - b[1]);
  const pick = { backend: usable[0][0], measured };
  autoPicks.set(keyOf(modelId, variant), pick);
  return pick;
}

/** The engine's `load` (app/shared/engine-api.js): {variant, runtime, backend, loadMs, bytes, measured}. */
export async function loadVariant({ modelId, variant, backend = "auto", remembered = null }, progress) {
  const chosen = await resolveBackend(modelId, variant, backend, remembered, progress);
  const entry = await ensureLoaded(modelId, variant, chosen.backend, (fraction) =>
    progress({ done: fraction, total: 1, label: `loading ${variant}` }),
  );
  return {
    variant,
    runtime: entry.runtime,
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
