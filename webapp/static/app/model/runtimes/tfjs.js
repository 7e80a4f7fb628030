// TFJS layers models on the cpu, wasm or webgl backend. Uses the global `tf` (vendor/tf.min.js and
// vendor/tf-backend-wasm.min.js, loaded by the worker). Every tensor made here is disposed here.
/* global tf */

export const BACKENDS = ["wasm", "webgl", "cpu"];

/** Parity bounds (max abs diff against the TFLite float32 reference on identical weights). */
export const TOLERANCE = {
  cpu: 1e-4,
  wasm: 1e-4,
  // WebGL computes in float32 textures where the GPU supports them, but with a different summation order
  // and exp/log approximations in shaders; with 16-bit textures (some phones) errors reach ~1e-3.
  webgl: 1e-3,
};

let wasmConfigured = false;

function configureWasm() {
  if (wasmConfigured) return;
  // The wasm binaries are served by the app itself (and precached by the service worker).
  tf.wasm.setWasmPaths(new URL("/vendor/", self.location.href).href);
  wasmConfigured = true;
}

/** Switches the global tfjs backend; throws when the backend cannot start here. */
export async function useBackend(name) {
  if (!BACKENDS.includes(name)) throw new Error(`unknown tfjs backend ${name}`);
  if (name === "wasm") configureWasm();
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`the ${name} backend is not available in this browser`);
  }
  await tf.ready();
  return tf.getBackend();
}

export function currentBackend() {
  return tf.getBackend();
}

export async function wasmThreads() {
  configureWasm();
  return Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
}

export async function load(url, onProgress) {
  return tf.loadLayersModel(url, { onProgress });
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
