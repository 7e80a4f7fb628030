// The engine: the methods of app/shared/engine-api.js, served by app/worker/engine.worker.js through the
// bridge. The work lives in the modules by concern: variant loading (variants.js), running a loaded
// variant (inference.js), compare and self-test (diagnostics.js), fine-tuning (finetune/handlers.js).
// Worker only: no DOM.
import { ENGINE_METHODS } from "../shared/engine-api.js";
import { diagnosticsHandlers } from "./diagnostics.js";
import { finetuneHandlers } from "./finetune/handlers.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import * as tfliteRuntime from "./runtimes/tflite.js";
import { loadVariant, prepare, unloadAll, unloadVariant } from "./variants.js";

export const handlers = {
  ...finetuneHandlers,
  ...diagnosticsHandlers,

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
    const { info, run } = await prepare(args, progress);
    const started = performance.now();
    const scores = await run(Float32Array.from(args.input), 1);
    return { scores, latencyMs: performance.now() - started, backend: info.backend, measured: info.measured };
  },

  async memory() {
    return tfjsRuntime.memory();
  },

  async unload({ modelId = null, variant = null } = {}) {
    if (modelId && variant) unloadVariant(modelId, variant);
    else unloadAll(modelId);
    return null;
  },
};

// The page's bridge offers exactly ENGINE_METHODS: a method listed there but not served here (or the other
// way round) would fail only when called, so the worker refuses to start instead.
const served = Object.keys(handlers).sort();
const listed = [...ENGINE_METHODS].sort();
if (served.join() !== listed.join()) {
  throw new Error(`engine methods ${served} differ from app/shared/engine-api.js's ${listed}`);
}
