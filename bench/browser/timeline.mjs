// Where a first prediction's time goes: performance marks, the engine worker's start, resource timing.

// Runs in the page (or the engine worker): its timeOrigin, the marks named edgeship:* / plain:* and the
// resource timing entries, for where the first prediction's time went.
export function timeline() {
  const marks = {};
  for (const entry of performance.getEntriesByType("mark")) {
    if (/^(edgeship|plain):/.test(entry.name)) marks[entry.name] = entry.startTime;
  }
  const resources = performance.getEntriesByType("resource").map((entry) => ({
    url: new URL(entry.name).pathname,
    start: entry.startTime,
    end: entry.responseEnd,
  }));
  const [nav] = performance.getEntriesByType("navigation");
  return {
    origin: performance.timeOrigin,
    marks,
    resources,
    navigation: nav ? { responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd } : null,
  };
}

const lastEnd = (entries) => (entries.length ? Math.max(...entries.map((e) => e.end)) : null);

// The first prediction's stages on the page's clock (ms from navigation start), from the app's performance
// marks where it sets them (page or engine worker), else from what the browser records: the engine
// worker's own time origin (it started), its resource timing (runtime and model files fetched).
export async function breakdown(page, modelId, firstPredictionAt) {
  const own = await page.evaluate(timeline);
  const worker = page.workers().find((w) => w.url().includes("engine.worker"));
  const inWorker = worker ? await worker.evaluate(timeline).catch(() => null) : null;
  const shift = inWorker ? inWorker.origin - own.origin : 0;
  const marks = { ...own.marks };
  for (const [name, at] of Object.entries((inWorker && inWorker.marks) || {})) marks[name] ??= at + shift;
  const fetched = ((inWorker && inWorker.resources) || []).map((r) => ({ ...r, end: r.end + shift }));
  const litert = fetched.filter((r) => r.url.startsWith("/vendor/litert/"));
  const tfjs = fetched.filter((r) => /^\/vendor\/tf/.test(r.url));
  const modelFiles = fetched.filter(
    (r) => r.url.startsWith(`/models/${modelId}/`) && !r.url.endsWith("manifest.json"),
  );
  // The app's mark when it sets one, else what stands in for it (named for what it is).
  const stage = (mark, name, fallbackName, fallback, how) =>
    marks[mark] !== undefined
      ? { stage: name, at_ms: marks[mark], source: `mark ${mark}` }
      : { stage: fallbackName, at_ms: fallback, source: fallback === null ? "not measured" : how };
  const html = own.navigation && own.navigation.responseEnd;
  return [
    { stage: "page HTML received", at_ms: html, source: "navigation timing" },
    stage(
      "edgeship:worker-start",
      "engine worker started",
      "engine worker started",
      inWorker ? shift : null,
      "the worker's time origin",
    ),
    ...(marks["edgeship:runtime-ready"] !== undefined
      ? [
          {
            stage: "runtime loaded",
            at_ms: marks["edgeship:runtime-ready"],
            source: "mark edgeship:runtime-ready",
          },
        ]
      : []),
    {
      stage: "LiteRT.js files fetched",
      at_ms: lastEnd(litert),
      source: "resource timing (worker): /vendor/litert/",
    },
    { stage: "tfjs files fetched", at_ms: lastEnd(tfjs), source: "resource timing (worker): /vendor/tf*" },
    stage(
      "edgeship:model-ready",
      "model ready (fetched, checked, compiled)",
      "model files fetched",
      lastEnd(modelFiles),
      "resource timing (worker): last model file",
    ),
    { stage: "app ready (window.edgeship.ready)", at_ms: page.readyAt, source: "bench" },
    stage(
      "edgeship:first-prediction",
      "first prediction",
      "first prediction",
      firstPredictionAt,
      "bench: engine.load + first engine.predict, after ready",
    ),
  ];
}
