// Page entry: wires the views to the engine worker, registers the service worker, and exposes a small
// `window.edgeship` handle (used by the e2e tests and handy in DevTools). No tfjs on this thread.
import { connect } from "../shared/bridge.js";
import { listModels, loadManifest, variantIds } from "../shared/catalog.js";
import { ENGINE_METHODS } from "../shared/engine-api.js";
import { finetunedVariant } from "../shared/finetuned-id.js";
import { stopCameras } from "./camera.js";
import { $, h } from "./dom.js";
import { watchInstall } from "./install.js";
import { noteFetch, watchNetwork } from "./network.js";
import { flush } from "./outbox.js";
import { watchStorage } from "./storage.js";
import { reportError } from "./toast.js";
import { checkForUpdate, controlled, registerServiceWorker } from "./updates.js";
import { CompareView } from "./views/compare.js";
import { FinetuneView } from "./views/finetune.js";
import { InferView } from "./views/infer.js";
import { SelfTestView } from "./views/selftest.js";

const VIEWS = ["infer", "compare", "selftest", "finetune"];
const onShow = {}; // view -> called each time the view is shown

function showView(name) {
  const view = VIEWS.includes(name) ? name : "infer";
  if ($(`#view-${view}`).hidden) stopCameras(); // a camera runs only while its view is shown
  for (const other of VIEWS) {
    $(`#view-${other}`).hidden = other !== view;
    $(`#tab-${other}`).setAttribute("aria-selected", String(other === view));
  }
  if (window.location.hash !== `#${view}`) window.history.replaceState(null, "", `#${view}`);
  if (onShow[view]) onShow[view]();
}

function describe(manifest) {
  const created = manifest.created ? manifest.created.replace("T", " ").slice(0, 19) : "unknown date";
  const count = variantIds(manifest).length;
  return `${manifest.name} · exported ${created} · ${count} variants`;
}

/**
 * Not a secure context (a LAN address or any name but localhost over plain HTTP): no crypto.subtle, so no
 * model file can be checked and none runs, and no service worker, storage quota or camera. One message with
 * the fix instead of views that would fail on every click.
 */
function refuseInsecure() {
  document.documentElement.dataset.context = "insecure";
  $("#insecure-notice").hidden = false;
  window.edgeship = { secure: false, ready: Promise.resolve(null) };
  document.documentElement.dataset.ready = "insecure";
}

async function boot() {
  if (!window.isSecureContext) {
    refuseInsecure();
    return;
  }
  watchNetwork();
  watchInstall();
  watchStorage();
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  showView(window.location.hash.slice(1));

  // Started by ui/engine-start.js, the page's first script, so that it warms up while this page loads.
  window.edgeshipEngineWorker ||= new Worker("/app/worker/engine.worker.js", { name: "edgeship-engine" });
  const worker = window.edgeshipEngineWorker;
  const engine = connect(worker, ENGINE_METHODS);
  const infer = new InferView(engine);
  const compare = new CompareView(engine, () => ({
    backend: infer.backend === "auto" ? "wasm" : infer.backend,
  }));
  const selfTest = new SelfTestView(engine);
  const state = { modelId: null, manifest: null };
  const finetune = new FinetuneView(engine, {
    onSavedChange: (items) => infer.setFinetuned(items),
    // A deleted model's weights are dropped from the worker too.
    onRemoved: (key) => engine.unload({ modelId: state.modelId, variant: finetunedVariant(key) }),
    onUse: (key) => {
      infer.useFinetuned(key);
      showView("infer");
    },
    onConverted: () => refreshModels().catch((error) => reportError(error, "models")),
  });

  onShow.finetune = () => finetune.activate();

  // The model list, with the exports the server has added (a fine-tune converted for mobile).
  const refreshModels = async () => {
    const catalog = await listModels();
    const select = $("#model-select");
    const current = state.modelId || catalog.default;
    select.replaceChildren(...catalog.models.map((model) => h("option", { value: model.id }, model.id)));
    select.value = catalog.models.some((model) => model.id === current) ? current : catalog.default;
    return catalog;
  };

  const selectModel = async (id) => {
    const manifest = await loadManifest(id);
    stopCameras(); // a camera started for the previous model (whose panel may now be hidden)
    state.modelId = id;
    state.manifest = manifest;
    $("#model-info").textContent = describe(manifest);
    $("#model-info").dataset.created = manifest.created || "";
    infer.setModel(id, manifest);
    compare.setModel(id, manifest);
    selfTest.setModel(id);
    await finetune.setModel(id, manifest);
  };

  // The engine's environment in the footer. tfjs's wasm figures exist once a tfjs variant has started tfjs
  // (the first model may run on LiteRT.js alone, and tfjs is then never loaded): "not started" until then.
  const showEnvironment = async () => {
    const env = await engine.init();
    const pool = env.wasmThreadCount === 1 ? "1 XNNPACK thread" : `${env.wasmThreadCount} XNNPACK threads`;
    const threads = `threads ${env.wasmThreads ? "on" : "off"} (${pool})`;
    const tfjs = env.wasmError ? "failed" : env.wasmThreadCount === null ? "not started" : threads;
    $("#env-info").textContent =
      `${env.crossOriginIsolated ? "cross-origin isolated" : "not isolated"} · tfjs wasm ${tfjs} · ` +
      `LiteRT.js ${env.litert.threads ? "threads" : "1 thread"}${env.litert.relaxedSimd ? " + relaxed SIMD" : ""}`;
    handle.env = env;
    if (env.wasmError) reportError(new Error(env.wasmError), "tfjs wasm backend");
    return env;
  };

  const handle = {
    engine,
    showEnvironment,
    state,
    ready: null,
    views: { infer, compare, selfTest, finetune },
    showView,
    selectModel,
    predict: () => infer.predict(),
    checkForUpdate,
    controlled,
  };
  window.edgeship = handle;

  handle.ready = (async () => {
    registerServiceWorker().catch((error) => reportError(error, "service worker"));
    let catalog;
    try {
      catalog = await refreshModels();
      noteFetch(true);
    } catch (error) {
      noteFetch(false);
      throw error;
    }
    const select = $("#model-select");
    select.addEventListener("change", () => selectModel(select.value).catch(reportError));
    await selectModel(catalog.default);
    flush().catch((error) => reportError(error, "upload")); // conversions queued while offline
    const env = await showEnvironment();
    document.documentElement.dataset.ready = "true";
    return env;
  })();
  handle.ready.catch((error) => reportError(error, "start"));
}

boot().catch((error) => reportError(error, "start"));
