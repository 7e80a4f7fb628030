// The engine: the methods of app/shared/engine-api.js, served by app/worker/engine.worker.js through the
// bridge. The work lives in the modules by concern: variant loading (variants.js), running a loaded
// variant (inference.js), compare and self-test (diagnostics.js), fine-tuning (finetune/handlers.js).
// Worker only: no DOM.
import { ENGINE_METHODS } from "../shared/engine-api.js";
import { diagnosticsHandlers } from "./diagnostics.js";
import { finetuneHandlers } from "./finetune/handlers.js";
import * as litertRuntime from "./runtimes/litert.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import { tfjsLoaded } from "./runtimes/tfjs-scripts.js";
import { webgpuInfo } from "./runtimes/webgpu.js";
import { loadVariant, prepare, unloadAll, unloadVariant } from "./variants.js";

const NO_LITERT = { relaxedSimd: false, threads: false, webgpu: false };

export const handlers = {
  ...finetuneHandlers,
  ...diagnosticsHandlers,

  async init() {
    // LiteRT.js's features need its JavaScript only (no wasm). The tfjs wasm figures need tfjs started: they
    // are reported once a tfjs variant has loaded it (null before), so that a page whose first model runs on
    // LiteRT.js never waits for tfjs.
    const litert = await litertRuntime.features().catch(() => NO_LITERT);
    let wasmThreads = null;
    let wasmThreadCount = null;
    let wasmError = null;
    if (tfjsLoaded()) {
      wasmThreads = await tfjsRuntime.wasmThreads().catch(() => false);
      try {
        wasmThreadCount = await tfjsRuntime.wasmThreadCount();
      } catch (error) {
        wasmError = error.message;
      }
    }
    return {
      crossOriginIsolated: Boolean(self.crossOriginIsolated),
      wasmThreads,
      wasmThreadCount,
      wasmError,
      // The .tflite runtime (LiteRT.js): relaxed SIMD, threads (isolated + relaxed SIMD), a WebGPU adapter.
      litert,
      tflite: { simd: litert.relaxedSimd, multiThreading: litert.threads },
      cores: self.navigator.hardwareConcurrency || 1,
      webgpu: await webgpuInfo(), // the WebGPU adapter ({vendor, architecture, ...}) or null
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

  /** {numTensors, numBytes} of tfjs (zeros before tfjs is loaded), {litertLive, litertHeapBytes} of LiteRT.js. */
  async memory() {
    const tfjs = tfjsLoaded() ? tfjsRuntime.memory() : { numTensors: 0, numBytes: 0 };
    return { ...tfjs, ...(await litertRuntime.memory()) };
  },

  // debugLeak: drop the variant without freeing it (e2e/memory.spec.js's proof that it would see a leak).
  async unload({ modelId = null, variant = null, debugLeak = false } = {}) {
    if (modelId && variant) unloadVariant(modelId, variant, { leak: Boolean(debugLeak) });
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
