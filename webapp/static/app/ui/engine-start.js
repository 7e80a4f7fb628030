// The page's first script: starts the engine worker before the views' modules load (app/ui/main.js takes it
// over), and tells it what the first prediction will ask for (the backend the user picked and the "auto"
// picks remembered here), so that it loads that model meanwhile (app/model/warmup.js). No imports: it runs as
// soon as the document is parsed. Not in an insecure context, where the app does not start the engine.

// The keys of app/ui/views/infer.js.
const BACKEND_KEY = "edgeship.backend";
const AUTO_PREFIX = "edgeship.auto-backend.";

function hint() {
  const remembered = {};
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (key && key.startsWith(AUTO_PREFIX))
      remembered[key.slice(AUTO_PREFIX.length)] = localStorage.getItem(key);
  }
  return { type: "hint", preferred: localStorage.getItem(BACKEND_KEY) || "auto", remembered };
}

// async: usually before main.js, which otherwise starts the worker itself (then this one does nothing).
if (window.isSecureContext && !window.edgeshipEngineWorker) {
  const worker = new Worker("/app/worker/engine.worker.js", { name: "edgeship-engine" });
  try {
    worker.postMessage(hint());
  } catch {
    worker.postMessage({ type: "hint" }); // storage refused (a privacy mode): warm up on "auto"
  }
  window.edgeshipEngineWorker = worker;
}
