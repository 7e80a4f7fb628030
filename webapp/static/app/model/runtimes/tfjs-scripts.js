// Loads tfjs (vendor/tf.min.js and its wasm backend) into the engine worker on first use: a worker that only
// runs .tflite variants (LiteRT.js, runtimes/litert.js) never downloads or parses it, and a tfjs variant's first
// prediction does not wait for LiteRT.js. The engine worker is a classic worker, so importScripts works at
// any time; it blocks while the scripts load, which is what a caller about to use `tf` needs anyway.

import { markOnce } from "../../shared/marks.js";

const SCRIPTS = ["/vendor/tf.min.js", "/vendor/tf-backend-wasm.min.js"];

let loaded = false;

/** Makes the global `tf` available (once); every module that uses `tf` is reached through a caller of this. */
export function ensureTfjs() {
  if (loaded) return;
  // tf.min.js bundles regenerator-runtime, which assigns the undeclared global `regeneratorRuntime` and, in
  // strict mode, falls back to `Function(...)`: an eval that the CSP (no 'unsafe-eval') forbids. Declaring
  // the global first makes the plain assignment succeed.
  self.regeneratorRuntime = undefined;
  importScripts(...SCRIPTS.map((path) => new URL(path, self.location.href).href));
  loaded = true;
  markOnce("edgeship:runtime-ready");
}

/** Whether tfjs is loaded (memory() reports zero tensors before). */
export function tfjsLoaded() {
  return loaded;
}
