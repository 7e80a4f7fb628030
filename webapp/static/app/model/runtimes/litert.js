// .tflite files through LiteRT.js (@litertjs/core, vendored as /vendor/litert/ by scripts/vendor.sh): XNNPACK
// in WebAssembly (threads when the worker is cross-origin isolated and has relaxed SIMD), or WebGPU. The
// library loads on the first use of a .tflite variant, not when the worker starts. It takes only the
// browser-facing file of a variant (manifest `browser`: batch 1, float32 input and output). Every model and
// every tensor made here is deleted here; `memory()` counts those still alive, and the wasm heap's size.
// Which build loads: threaded (isolated + relaxed SIMD: precached), plain relaxed SIMD (precached), or
// compat (neither: cached by the service worker on first use).

import { markOnce } from "../../shared/marks.js";
import { webgpuAdapter } from "./webgpu.js";

export const BACKENDS = ["wasm", "webgpu"];

/** Parity bounds against the Python interpreter's outputs for the same file. */
export const TOLERANCE = {
  // XNNPACK in wasm runs the same kernels as the Python interpreter's: integer models bit-exact.
  int8: 0,
  float: 1e-6,
  // WebGPU computes in its own shaders (summation order, fp32 on the device): a real GPU's differences stay
  // well below this; the top-1 must still agree.
  webgpu: 1e-3,
  // Dynamic-range int8 on webgpu: the reference (the Python interpreter's hybrid kernels) quantizes the
  // activations to int8 on the fly, the GPU dequantizes the weights and computes in float. Measured 4.2e-3
  // on the demo digits CNN (SwiftShader); the top-1 must still agree.
  webgpuDynamicInt8: 1e-2,
};

/**
 * The bound for a .tflite variant (its manifest spec) on `backend`: integer models (int8, and qat whose
 * deployable file is fully integer) exact on wasm, float ones 1e-6; webgpu its own bound.
 */
export function tolerance(spec, backend) {
  if (backend === "webgpu") {
    return spec.precision === "dynamic-int8" ? TOLERANCE.webgpuDynamicInt8 : TOLERANCE.webgpu;
  }
  const integer = spec.precision === "int8" || spec.input_dtype === "int8" || spec.output_dtype === "int8";
  return integer ? TOLERANCE.int8 : TOLERANCE.float;
}

const LIBRARY = "/vendor/litert/litert.js";
const WASM_DIR = "/vendor/litert/";

let library = null; // Promise of {lib, threads, numThreads}
const live = new Set(); // the models and tensors made here and not deleted yet

const absolute = (path) => new URL(path, self.location.href).href;

/** The LiteRT.js module (its JavaScript only: no wasm yet). */
function importLibrary() {
  return import(absolute(LIBRARY));
}

/** {relaxedSimd, threads, webgpu}: what LiteRT.js can use here, without loading its wasm. */
export async function features() {
  const lib = await importLibrary();
  const relaxedSimd = await lib.supportsFeature("relaxedSimd");
  const threads = Boolean(self.crossOriginIsolated) && relaxedSimd && (await lib.supportsFeature("threads"));
  return { relaxedSimd, threads, webgpu: Boolean(await webgpuAdapter()) };
}

// The build LiteRT.js would pick from the directory, named in full: emscripten in a worker looks for its
// .wasm (and starts its pthread workers) relative to the *worker's* script, /app/worker/, unless Module says
// otherwise, and LiteRT.js passes no Module of its own.
function loaderOf({ relaxedSimd, threads }) {
  const build = threads ? "threaded_internal" : relaxedSimd ? "internal" : "compat_internal";
  return absolute(`${WASM_DIR}litert_wasm_${build}.js`);
}

// The wasm the engine worker started compiling before this module loaded (app/worker/engine.worker.js), when
// it is the one `loader` loads: emscripten then instantiates it instead of fetching and compiling again.
async function earlyCompiled(loader) {
  const early = self.edgeshipEarly && (await self.edgeshipEarly.catch(() => null));
  const wasm = early && early.litertWasm;
  if (!wasm || wasm.url !== loader.replace(/\.js$/, ".wasm")) return null;
  return wasm.module.catch(() => null);
}

async function startWith(lib, loader) {
  const compiled = await earlyCompiled(loader);
  self.Module = {
    ...(compiled && {
      instantiateWasm: (imports, receive) => {
        // emscripten waits for `receive`: on any failure, fetch and compile the file as it would have.
        WebAssembly.instantiate(compiled, imports)
          .then((instance) => receive(instance, compiled))
          .catch(async () => {
            const url = loader.replace(/\.js$/, ".wasm");
            const { instance, module } = await WebAssembly.instantiateStreaming(fetch(url), imports);
            receive(instance, module);
          });
        return {};
      },
    }),
    locateFile: (file) => absolute(`${WASM_DIR}${file}`),
    mainScriptUrlOrBlob: loader,
    // LiteRT's C++ logs every model load at INFO level on stderr (console.error): keep the rest only.
    printErr: (line) => {
      if (/^INFO: /.test(line) || /NPU accelerator could not be loaded/.test(line)) return;
      if (/^WARNING: /.test(line)) console.warn(`LiteRT.js: ${line}`);
      else console.error(`LiteRT.js: ${line}`);
    },
  };
  try {
    await lib.loadLiteRt(loader);
  } finally {
    self.Module = undefined;
  }
}

async function start() {
  const lib = await importLibrary();
  const found = await features();
  let threads = found.threads;
  try {
    // Threads only where the worker is isolated and has relaxed SIMD (LiteRT.js refuses them otherwise).
    await startWith(lib, loaderOf(found));
  } catch (error) {
    if (!threads) throw error;
    console.warn(`LiteRT.js: the threaded build failed (${error.message}); running on one thread`);
    threads = false;
    await startWith(lib, loaderOf({ ...found, threads }));
  }
  markOnce("edgeship:runtime-ready");
  const cores = (self.navigator && self.navigator.hardwareConcurrency) || 1;
  return { lib, threads, numThreads: threads ? Math.max(1, Math.min(4, cores)) : 1 };
}

/** LiteRT.js with its wasm started (once per worker); a caller may start it early, e.g. during a download. */
export function ready() {
  if (!library) {
    library = start().catch((error) => {
      library = null;
      throw error;
    });
  }
  return library;
}

function track(object) {
  live.add(object);
  return object;
}

function release(object) {
  if (!object) return;
  live.delete(object);
  if (!object.deleted) object.delete();
}

/** Loads and compiles a browser-facing .tflite file (bytes: Uint8Array) for `backend` ("wasm" | "webgpu"). */
export async function load(bytes, backend = "wasm") {
  if (!BACKENDS.includes(backend)) throw new Error(`unknown LiteRT.js backend ${backend}`);
  const { lib, numThreads } = await ready();
  if (backend === "webgpu" && !lib.getWebGpuDevice()) {
    throw new Error("the webgpu backend is not available in this browser (no WebGPU adapter)");
  }
  const model = track(await lib.loadAndCompile(bytes, { accelerator: backend, cpuOptions: { numThreads } }));
  try {
    const [input] = model.getInputDetails();
    const [output] = model.getOutputDetails();
    if (input.dtype !== "float32" || output.dtype !== "float32") {
      throw new Error(
        `this .tflite file has ${input.dtype} input and ${output.dtype} output; ` +
          "the browser runs float32 input and output only: export the model again with this edgeship",
      );
    }
    // A model WebGPU cannot run whole falls back to wasm inside LiteRT.js: say where it really runs.
    const where = model.options.accelerator;
    return {
      compiled: model,
      lib,
      backend: where,
      inputShape: [...input.shape],
      outputShape: [...output.shape],
    };
  } catch (error) {
    release(model);
    throw error;
  }
}

/** The model's per-run input and output shapes (batch 1: LiteRT.js runs one sample at a time here). */
export function signature(model) {
  return { inputShape: model.inputShape, outputShape: model.outputShape };
}

/** Runs `count` samples one by one: input Float32Array (count samples), returns Float32Array outputs. */
export async function predict(model, input, count) {
  const { lib, compiled, inputShape, outputShape } = model;
  const inPer = input.length / count;
  const outPer = outputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * outPer);
  for (let i = 0; i < count; i += 1) {
    const x = track(new lib.Tensor(input.slice(i * inPer, (i + 1) * inPer), inputShape));
    let outputs = [];
    try {
      outputs = (await compiled.run(x)).map(track);
      let result = outputs[0];
      if (result.accelerator !== "wasm") {
        result = track(await result.moveTo("wasm"));
        outputs.push(result);
      }
      out.set(result.toTypedArray(), i * outPer);
    } finally {
      release(x);
      for (const tensor of outputs) release(tensor);
    }
  }
  return out;
}

/** Frees the model's wasm memory (and its GPU buffers). */
export function dispose(model) {
  release(model.compiled);
}

/** {litertLive, litertHeapBytes}: models and tensors not deleted yet, and the wasm heap's size (null before load). */
export async function memory() {
  let heapBytes = null;
  if (library) {
    const started = await library.catch(() => null);
    if (started) heapBytes = started.lib.getGlobalLiteRt().liteRtWasm.HEAPU8.length;
  }
  return { litertLive: live.size, litertHeapBytes: heapBytes };
}
