// The engine worker: a classic worker, because tfjs and its backends ship as UMD scripts that the engine loads
// with importScripts when a tfjs variant is first used (app/model/runtimes/tfjs-scripts.js), and LiteRT.js
// loads its emscripten module with importScripts when a .tflite variant is first used
// (app/model/runtimes/litert.js). Nothing is loaded at start: the engine itself is an ES module (dynamic
// import works in classic workers). Protocol: app/shared/bridge.js, methods: app/shared/engine-api.js.

// The page's first message (app/ui/engine-start.js) says what it will ask for first: caught here, before the
// engine's modules have loaded, so the warm-up can start as soon as they have.
let hint = null;
self.addEventListener("message", function onHint({ data }) {
  if (data && data.type === "hint") hint = data;
  self.removeEventListener("message", onHint);
});

// Before any of the engine's modules has loaded (a few round trips through the service worker), start what
// the default model's first prediction needs: the catalog and its manifest and, for a .tflite default variant,
// LiteRT.js's script and the streaming compile of its wasm (the build app/model/runtimes/litert.js picks when
// the worker is cross-origin isolated). The warm-up and litert.js take them from self.edgeshipEarly.
const LITERT_WASM = "/vendor/litert/litert_wasm_threaded_internal.wasm";
self.edgeshipEarly = (async () => {
  const json = async (url) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  };
  const catalog = await json("/api/models");
  const manifest = catalog.default
    ? await json(`/models/${encodeURIComponent(catalog.default)}/manifest.json`)
    : null;
  const spec = manifest && manifest.variants && manifest.variants[manifest.default_variant];
  let litertWasm = null;
  if (spec && spec.target === "tflite" && self.crossOriginIsolated) {
    import("/vendor/litert/litert.js").catch(() => {}); // the same module the engine imports later
    const url = new URL(LITERT_WASM, self.location.href).href;
    litertWasm = { url, module: WebAssembly.compileStreaming(fetch(url)) };
    litertWasm.module.catch(() => {}); // litert.js then loads the wasm itself
  }
  return { catalog, modelId: catalog.default, manifest, litertWasm };
})();
self.edgeshipEarly.catch(() => {}); // the warm-up fetches again, and reports

// The warm-up starts as soon as its own modules have loaded, while the rest of the engine (compare, self-test,
// fine-tuning) still loads; the engine's calls queue behind it.
const warm = import("../model/warmup.js").then(({ warmUp }) => warmUp(hint));
warm.catch(() => {}); // reported once, by the engine's queue (app/shared/bridge.js)

Promise.all([import("../model/engine.js"), import("../shared/bridge.js")])
  .then(([{ handlers }, { expose }]) => expose(handlers, self, { startup: () => warm }))
  .catch((error) => {
    const fatal = { type: "fatal", message: String(error && error.message) };
    self.postMessage(fatal);
    // Said again to a page that connects later (app/shared/bridge.js says "hello").
    self.addEventListener("message", ({ data }) => data && data.type === "hello" && self.postMessage(fatal));
  });
