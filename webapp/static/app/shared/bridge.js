// The typed bridge between the page and a worker (Squoosh-style): the page calls `engine.method(args,
// {onProgress, signal})` and gets a promise; the worker exposes an object of async handlers. Messages:
//   page -> worker  {type: "hello"} (answered with "ready") | {type: "call", id, method, args} | {type: "cancel", id}
//   worker -> page  {type: "ready"} | {type: "fatal", message}
//                   {type: "progress", id, progress: {done, total, label}}
//                   {type: "result", id, value} | {type: "error", id, error: {name, message}}
// Handlers run one at a time, in call order (they share one tfjs engine); a cancelled call rejects with an
// AbortError, which the page does not report as an error.

function abortError() {
  return new DOMException("cancelled", "AbortError");
}

function toError({ name, message }) {
  if (name === "AbortError") return abortError();
  const error = new Error(message);
  error.name = name || "Error";
  return error;
}

/** Page side: returns {ready, [method]: (args, {onProgress, signal}) => Promise}. */
export function connect(worker, methods) {
  const calls = new Map();
  let nextId = 1;
  let settleReady;
  const ready = new Promise((resolve, reject) => {
    settleReady = { resolve, reject };
  });
  const failAll = (error) => {
    settleReady.reject(error);
    for (const call of calls.values()) call.reject(error);
    calls.clear();
  };
  worker.addEventListener("message", ({ data }) => {
    if (data.type === "ready") return settleReady.resolve();
    if (data.type === "fatal") return failAll(new Error(`engine failed to start: ${data.message}`));
    const call = calls.get(data.id);
    if (!call) return undefined;
    if (data.type === "progress") {
      if (call.onProgress) call.onProgress(data.progress);
      return undefined;
    }
    calls.delete(data.id);
    if (data.type === "result") call.resolve(data.value);
    else call.reject(toError(data.error));
    return undefined;
  });
  let started = false;
  ready.then(
    () => {
      started = true;
    },
    () => {},
  );
  // The worker may have started before this page connected (app/ui/engine-start.js starts it first) and
  // said "ready" to nobody: ask again. A worker not serving yet drops this and says "ready" when it is.
  worker.postMessage({ type: "hello" });
  worker.addEventListener("error", (event) => {
    // Before "ready" the engine cannot start: fail every call. Afterwards an uncaught error (for example in
    // one of a runtime's own thread workers) is logged; the call it broke rejects on its own.
    const error = new Error(`engine worker: ${event.message || "uncaught error"}`);
    if (!started) failAll(error);
    else console.error(error);
  });

  const api = { ready };
  for (const method of methods) {
    api[method] = async (args = {}, { onProgress, signal } = {}) => {
      await ready;
      if (signal && signal.aborted) throw abortError();
      const id = nextId;
      nextId += 1;
      return new Promise((resolve, reject) => {
        calls.set(id, { resolve, reject, onProgress });
        if (signal) signal.addEventListener("abort", () => worker.postMessage({ type: "cancel", id }));
        worker.postMessage({ type: "call", id, method, args });
      });
    };
  }
  return api;
}

/**
 * Worker side: serves `handlers` ({name: async (args, {progress, signal}) => value}). `startup`, when given,
 * runs first in the queue (the engine's warm-up): calls that arrive meanwhile wait for it, and its failure
 * is logged, never passed on to them.
 */
export function expose(handlers, scope = self, { startup = null, startupWaitMs = 20_000 } = {}) {
  const controllers = new Map();
  // Bounded: a warm-up stuck on a runtime never holds the other calls (those for that runtime still wait).
  const late = () => new Promise((resolve) => setTimeout(resolve, startupWaitMs));
  let queue = startup
    ? Promise.race([Promise.resolve().then(startup), late()]).catch((error) =>
        console.warn(`engine warm-up: ${error.message || error}`),
      )
    : Promise.resolve();
  scope.addEventListener("message", ({ data }) => {
    if (data.type === "hello") {
      scope.postMessage({ type: "ready" });
      return;
    }
    if (data.type === "cancel") {
      const controller = controllers.get(data.id);
      if (controller) controller.abort();
      return;
    }
    if (data.type !== "call") return;
    const controller = new AbortController();
    controllers.set(data.id, controller);
    const progress = (value) => scope.postMessage({ type: "progress", id: data.id, progress: value });
    const run = async () => {
      try {
        const handler = handlers[data.method];
        if (!handler) throw new Error(`unknown engine method ${data.method}`);
        if (controller.signal.aborted) throw abortError();
        const value = await handler(data.args, { progress, signal: controller.signal });
        scope.postMessage({ type: "result", id: data.id, value });
      } catch (error) {
        const name = controller.signal.aborted ? "AbortError" : error.name;
        scope.postMessage({
          type: "error",
          id: data.id,
          error: { name, message: String(error.message || error) },
        });
      } finally {
        controllers.delete(data.id);
      }
    };
    queue = queue.then(run);
  });
  scope.postMessage({ type: "ready" });
}

/** Throws an AbortError when the call was cancelled. */
export function checkAborted(signal) {
  if (signal && signal.aborted) throw abortError();
}
