// The plain pages' side of the head to head: visit a plain page twice (cold, then from the HTTP cache).
import { median } from "./stats.mjs";

// The plain pages (bench/browser/): what each runtime's README has a developer write. `file`: which of the
// export's files it runs (the tfjs-fp32 model.json, or the .tflite file of the app's fastest variant).
export const BASELINES = {
  "tfjs-default": { page: "plain.html", file: "tfjs", label: "tfjs-fp32 model.json, tfjs default backend" },
  "tfjs-wasm": { page: "plain-wasm.html", file: "tfjs", label: "tfjs-fp32 model.json, tfjs wasm backend" },
  "tfjs-tflite": { page: "plain-tflite.html", file: "tflite", label: "same .tflite file, tfjs-tflite" },
  litert: { page: "plain-litert.html", file: "tflite", label: "same .tflite file, LiteRT.js" },
};

/** The file a baseline runs: the tfjs-fp32 model.json, or the .tflite file the app's fastest path runs. */
export function baselineFile(model, baseline, fastest) {
  if (BASELINES[baseline].file === "tfjs") return model.plainModel;
  return model.tfliteFiles[fastest.variant] || model.tfliteFiles["tflite-fp32"];
}

export async function plainVisits(browser, config, model, baseline, file, errors) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  const visit = async (runs) => {
    const warm = runs > 1 ? { warmup: config.warmup, warmupMs: config.warmupMs || 0 } : {};
    const query = new URLSearchParams({ model: file, runs, budget: config.budgetMs, ...warm });
    await page.goto(`${config.plainUrl}${BASELINES[baseline].page}?${query}`);
    await page.waitForFunction(() => window.plainResult, null, { timeout: 90_000 });
    const result = await page.evaluate(() => window.plainResult);
    if (result.error) throw new Error(`plain page (${baseline}): ${result.error}`);
    return result;
  };
  try {
    const cold = await visit(1);
    const warm = await visit(config.runs); // the same files again, from the HTTP cache: latency here too
    const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0].responseEnd);
    const stages = [
      { stage: "page HTML received", at_ms: nav, source: "navigation timing" },
      {
        stage: "runtime loaded",
        at_ms: warm.marks["runtime-ready"] ?? null,
        source: "mark plain:runtime-ready",
      },
      {
        stage: "model ready (fetched, compiled)",
        at_ms: warm.marks["model-ready"] ?? null,
        source: "mark plain:model-ready",
      },
      { stage: "first prediction", at_ms: warm.firstPredictionMs, source: "mark plain:first-prediction" },
    ];
    return {
      file,
      runtime: cold.runtime,
      backend: cold.backend,
      threads: cold.threads,
      cross_origin_isolated: cold.crossOriginIsolated,
      ttfp_cold_ms: cold.firstPredictionMs,
      ttfp_cached_ms: warm.firstPredictionMs,
      cached_stages: stages,
      median_ms: median(warm.times),
      runs: warm.times.length,
    };
  } catch (error) {
    return { file, error: String(error.message || error).split("\n")[0] };
  } finally {
    await context.close();
  }
}
