// The engine worker: a classic worker, because tfjs and its backends ship as UMD scripts that the engine loads
// with importScripts when a tfjs variant is first used (app/model/runtimes/tfjs-scripts.js), and LiteRT.js
// loads its emscripten module with importScripts when a .tflite variant is first used
// (app/model/runtimes/litert.js). Nothing is loaded at start: the engine itself is an ES module (dynamic
// import works in classic workers). Protocol: app/shared/bridge.js, methods: app/shared/engine-api.js.

Promise.all([import("../model/engine.js"), import("../shared/bridge.js")])
  .then(([{ handlers }, { expose }]) => expose(handlers))
  .catch((error) => self.postMessage({ type: "fatal", message: String(error && error.message) }));
