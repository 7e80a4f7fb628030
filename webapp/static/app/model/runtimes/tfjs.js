// TFJS layers models on the cpu, wasm, webgl or webgpu backend. Uses the global `tf` (vendor/tf.min.js and
// vendor/tf-backend-wasm.min.js, loaded by the worker; vendor/tf-backend-webgpu.min.js only when the webgpu
// backend is first asked for, so that a browser without WebGPU never downloads or parses it). Every tensor
// made here is disposed here.
/* global tf */
import { webgpuAdapter } from "./webgpu.js";

/** The backends offered here: "webgpu" joins once the probe below finds an adapter (availableBackends). */
export const BACKENDS = ["wasm", "webgl", "cpu"];

const webgpuProbe = webgpuAdapter().then((adapter) => {
  if (adapter && !BACKENDS.includes("webgpu")) BACKENDS.push("webgpu");
  return Boolean(adapter);
});

/** BACKENDS once the WebGPU probe has answered (a copy). */
export async function availableBackends() {
  await webgpuProbe;
  return [...BACKENDS];
}

/** Parity bounds (max abs diff against the TFLite float32 reference on identical weights). */
export const TOLERANCE = {
  cpu: 1e-4,
  wasm: 1e-4,
  // WebGL computes in float32 textures where the GPU supports them, but with a different summation order
  // and exp/log approximations in shaders; with 16-bit textures (some phones) errors reach ~1e-3.
  webgl: 1e-3,
  // tfjs-backend-webgpu 4.22 computes in float32 everywhere: it never asks for the shader-f16 feature, so a
  // GPU's half precision is not used (LiteRT.js does ask for it: runtimes/litert.js has its own bound). What
  // differs from cpu is the summation order of its tiled kernels and WGSL's exp/tanh (a few ULP), like cpu
  // against wasm. Measured in SwiftShader (headless Chromium): 3.6e-7 on the demo digits CNN's 16 fixture
  // samples (cpu: 1.8e-7), every top-1 identical; the bound is cpu's and wasm's.
  webgpu: 1e-4,
};

let wasmConfigured = false;

function configureWasm() {
  if (wasmConfigured) return;
  // The wasm binaries are served by the app itself (and precached by the service worker).
  tf.wasm.setWasmPaths(new URL("/vendor/", self.location.href).href);
  wasmConfigured = true;
}

const START_TIMEOUT_MS = 20_000;

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let webgpuLoaded = false;

/** Loads tfjs-backend-webgpu (it registers the "webgpu" backend) once, where there is an adapter. */
async function loadWebgpu() {
  if (webgpuLoaded) return;
  if (!(await webgpuProbe))
    throw new Error("the webgpu backend is not available: this browser gives no WebGPU adapter");
  // A classic worker (app/worker/engine.worker.js), like the other tfjs bundles: a UMD script on the global tf.
  importScripts(new URL("/vendor/tf-backend-webgpu.min.js", self.location.href).href);
  webgpuLoaded = true;
}

/** Switches the global tfjs backend; throws when the backend cannot start here. */
export async function useBackend(name) {
  if (![...BACKENDS, "webgpu"].includes(name)) throw new Error(`unknown tfjs backend ${name}`);
  if (name === "wasm") configureWasm();
  if (name === "webgpu") await loadWebgpu();
  if (tf.getBackend() !== name) {
    // A wasm backend whose thread workers cannot load (e.g. a CSP without blob: in script-src) never
    // settles: give up with a message instead of hanging.
    const ok = await withTimeout(
      tf.setBackend(name),
      START_TIMEOUT_MS,
      `the ${name} backend did not start within ${START_TIMEOUT_MS / 1000} s`,
    );
    if (!ok) throw new Error(`the ${name} backend is not available in this browser`);
  }
  await tf.ready();
  return tf.getBackend();
}

/** Threads the started wasm backend really runs with (1 when it runs without threads). */
export async function wasmThreadCount() {
  const previous = tf.getBackend();
  await useBackend("wasm");
  const count = tf.wasm.getThreadsCount();
  if (previous && previous !== "wasm") await useBackend(previous);
  return count;
}

export function currentBackend() {
  return tf.getBackend();
}

export async function wasmThreads() {
  configureWasm();
  return Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
}

/**
 * Loads a model from in-memory artifacts ({modelTopology, weightSpecs, weightData}): exports' files are
 * fetched and checked by the engine first (app/model/integrity.js), never by tfjs from a URL.
 */
export async function loadArtifacts(artifacts) {
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** Runs a batch: input Float32Array with shape [n, ...]; returns the output values as Float32Array. */
export async function predict(model, input, shape) {
  const output = tf.tidy(() => {
    const result = model.predict(tf.tensor(input, shape, "float32"));
    return Array.isArray(result) ? result[0] : result;
  });
  try {
    return await output.data();
  } finally {
    output.dispose();
  }
}

export function dispose(model) {
  model.dispose();
}

export function memory() {
  const { numTensors, numBytes } = tf.memory();
  return { numTensors, numBytes };
}
