// The engine worker: a classic worker, because tfjs, its wasm backend and tfjs-tflite ship as UMD scripts and
// tfjs-tflite loads its emscripten module with importScripts. The engine itself is an ES module
// (dynamic import works in classic workers). Protocol: app/shared/bridge.js, methods: app/shared/engine-api.js.

// tf.min.js bundles regenerator-runtime, which assigns the undeclared global `regeneratorRuntime` and, in
// strict mode, falls back to `Function(...)`: an eval that the CSP (no 'unsafe-eval') forbids. Declaring the
// global first makes the plain assignment succeed.
self.regeneratorRuntime = undefined;

importScripts("/vendor/tf.min.js", "/vendor/tf-backend-wasm.min.js", "/vendor/tf-tflite.min.js");

Promise.all([import("../model/engine.js"), import("../shared/bridge.js")])
  .then(([{ handlers }, { expose }]) => expose(handlers))
  .catch((error) => self.postMessage({ type: "fatal", message: String(error && error.message) }));
