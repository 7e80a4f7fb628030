// Shared by the plain pages: time a page's runtime the same way on each. A page calls
// plainRun(async () => ({backend, run: async () => {...}})) with what a developer writes after that
// runtime's README; plainRun marks where the time goes (performance marks plain:runtime-ready,
// plain:model-ready, plain:first-prediction, from navigation start), predicts once, warms up (?warmup=
// calls and ?warmupMs= ms, as the app's side does), then times single predictions for ?runs= (at least 3,
// then within ?budget= ms). The result goes to window.plainResult.

"use strict";

const PLAIN_THREADS = 2; // as the app's engine gets on this machine (2 cores): the same threads on both sides

/** Fixed pseudo-random values in [low, high): the same input on every page. */
function plainInput(size, low, high) {
  const values = new Float32Array(size);
  let seed = 1;
  for (let i = 0; i < size; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    values[i] = low + ((high - low) * seed) / 2147483648;
  }
  return values;
}

function plainMarks() {
  const marks = {};
  for (const entry of performance.getEntriesByType("mark")) {
    if (entry.name.startsWith("plain:")) marks[entry.name.slice(6)] = entry.startTime;
  }
  return marks;
}

function plainRun(setup) {
  const params = new URLSearchParams(window.location.search);
  const runs = Number(params.get("runs") || 20);
  const budgetMs = Number(params.get("budget") || 10_000);
  const warmup = Number(params.get("warmup") || 0);
  const warmupMs = Number(params.get("warmupMs") || 0);
  const run = async () => {
    const session = await setup({ model: params.get("model"), threads: PLAIN_THREADS });
    await session.run();
    const firstPredictionMs = performance.now();
    performance.mark("plain:first-prediction");
    for (let i = 1; i < warmup || performance.now() - firstPredictionMs < warmupMs; i += 1)
      await session.run();
    const times = [];
    const started = performance.now();
    while (times.length < runs && (times.length < 3 || performance.now() - started < budgetMs)) {
      const t0 = performance.now();
      await session.run();
      times.push(performance.now() - t0);
    }
    if (session.dispose) session.dispose();
    return {
      runtime: session.runtime,
      backend: session.backend,
      threads: session.threads ?? null,
      crossOriginIsolated: self.crossOriginIsolated,
      firstPredictionMs,
      marks: plainMarks(),
      times,
    };
  };
  window.plainResult = run().then(
    (result) => {
      document.querySelector("#status").textContent = "done";
      return result;
    },
    (error) => ({ error: String(error && error.message ? error.message : error) }),
  );
}

// For the pages' own scripts (classic and module ones alike).
Object.assign(window, { plainInput, plainRun });
