// The page's first script: starts the engine worker before the views' modules load (app/ui/main.js takes it
// over), and tells it what the first prediction will ask for (the backend the user picked and the "auto"
// picks remembered here), so that it loads that model meanwhile (app/model/warmup.js). One import only (itself
// without imports): it runs as soon as the document is parsed. Not in an insecure context, where the app
// does not start the engine.
import { rememberedBackends } from "./backend-memory.js";

// async: usually before main.js, which otherwise starts the worker itself (then this one does nothing).
if (window.isSecureContext && !window.edgeshipEngineWorker) {
  const worker = new Worker("/app/worker/engine.worker.js", { name: "edgeship-engine" });
  try {
    worker.postMessage({ type: "hint", ...rememberedBackends() });
  } catch {
    worker.postMessage({ type: "hint" }); // storage refused (a privacy mode): warm up on "auto"
  }
  window.edgeshipEngineWorker = worker;
}
