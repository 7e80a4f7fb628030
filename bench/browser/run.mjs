// Browser benchmark (Playwright driving Debian's Chromium). Called by bench/browser.py:
//
//   node bench/browser/run.mjs CONFIG.json OUT.json
//
// CONFIG: {edgeshipUrl, plainUrl, models: [{id, inputSize, range, variants: {id: target}, plainModel}],
//          backends, runs, warmup, budgetMs, rounds, finetune: {backends, small, large}}
// 1. matrix: in edgeship's app, every variant on every runtime and backend: median single-sample latency
//    (page -> engine worker -> page round trip, and the worker's own figure).
// 2. head to head, `rounds` times, alternating which side goes first: edgeship's fastest path (from the
//    matrix) against the plain page (bench/browser/plain.html: tf.loadLayersModel, default backend).
//    Time to first prediction is counted from navigation start: cold (fresh profile), then from the service
//    worker cache (edgeship, offline) or the HTTP cache (plain page, which has no service worker).
// 3. fine-tuning, when the engine has it: samples per second of engine.train per training backend.
// Drives the app only through its `window.edgeship` handle (webapp/static/app/ui/main.js).
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function stats(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

async function openApp(context, url, errors) {
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => window.edgeship && window.edgeship.ready, null, { timeout: 60_000 });
  await page.evaluate(() => window.edgeship.ready);
  return page;
}

// Runs in the page: times engine.predict on one variant/backend; the first call loads the model.
async function timeInApp({ modelId, variant, backend, size, range, runs, warmup, budgetMs }) {
  const engine = window.edgeship.engine;
  const input = new Float32Array(size);
  let seed = 1;
  for (let i = 0; i < size; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    input[i] = range[0] + ((range[1] - range[0]) * seed) / 2147483648;
  }
  const call = () => engine.predict({ modelId, variant, backend, input });
  const t0 = performance.now();
  const first = await call();
  const firstMs = performance.now() - t0;
  const afterFirst = performance.now();
  for (let i = 1; i < warmup; i += 1) await call();
  const roundTrip = [];
  const worker = [];
  const started = performance.now();
  while (roundTrip.length < runs && (roundTrip.length < 3 || performance.now() - started < budgetMs)) {
    const t = performance.now();
    const result = await call();
    roundTrip.push(performance.now() - t);
    worker.push(result.latencyMs);
  }
  return { backend: first.backend, firstMs, firstPredictionAt: afterFirst, roundTrip, worker };
}

function summarise(raw) {
  return {
    backend: raw.backend,
    first_ms: raw.firstMs,
    median_ms: median(raw.roundTrip),
    min_ms: Math.min(...raw.roundTrip),
    max_ms: Math.max(...raw.roundTrip),
    worker_median_ms: median(raw.worker),
    runs: raw.roundTrip.length,
  };
}

async function matrix(browser, config, model, errors) {
  const context = await browser.newContext();
  const page = await openApp(context, config.edgeshipUrl, errors);
  const rows = [];
  for (const [variant, target] of Object.entries(model.variants)) {
    const backends = target === "tfjs" ? config.backends : ["tflite"];
    for (const backend of backends) {
      const row = { variant, runtime: target === "tfjs" ? "tfjs" : "tfjs-tflite", backend };
      try {
        const raw = await page.evaluate(timeInApp, {
          modelId: model.id,
          variant,
          backend: backend === "tflite" ? "wasm" : backend,
          size: model.inputSize,
          range: model.range,
          runs: config.runs,
          warmup: config.warmup,
          budgetMs: config.budgetMs,
        });
        Object.assign(row, summarise(raw));
      } catch (error) {
        row.error = String(error.message || error).split("\n")[0];
      }
      await page.evaluate((id) => window.edgeship.engine.unload({ modelId: id }), model.id);
      rows.push(row);
      console.error(`  ${model.id} ${variant} ${backend}: ${row.error || row.median_ms.toFixed(2) + " ms"}`);
    }
  }
  const env = await page.evaluate(() => window.edgeship.env);
  const methods = await page.evaluate(() => Object.keys(window.edgeship.engine).filter((k) => k !== "ready"));
  await context.close();
  return { rows, env, methods };
}

// Runs in the page: fine-tunes the export's tfjs-fp32 model on `count` random samples of its own classes,
// training only the head (the layers finetuneSetup marks as head), and returns the engine's summary.
async function fineTune({ modelId, backend, size, range, count, epochs, batchSize }) {
  const engine = window.edgeship.engine;
  const setup = await engine.finetuneSetup({ modelId, start: "export" });
  const inputs = new Float32Array(count * size);
  let seed = 7;
  for (let i = 0; i < inputs.length; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    inputs[i] = range[0] + ((range[1] - range[0]) * seed) / 2147483648;
  }
  const labels = setup.labels;
  const targets = Array.from({ length: count }, (_, i) => i % labels.length);
  const trainable = setup.layers.filter((layer) => layer.head).map((layer) => layer.name);
  const summary = await engine.train({
    modelId,
    start: "export",
    labels,
    trainable,
    epochs,
    batchSize,
    learningRate: 0.001,
    backend,
    inputs,
    targets,
    name: "bench",
  });
  return {
    backend: summary.backend,
    samples_per_s: summary.samplesPerSecond,
    seconds: summary.seconds,
    samples: summary.samples,
    epochs: summary.epochs,
    batch_size: batchSize,
    trained_layers: trainable,
  };
}

async function fineTuning(browser, config, model, errors) {
  const context = await browser.newContext();
  const page = await openApp(context, config.edgeshipUrl, errors);
  const rows = [];
  for (const backend of config.finetune.backends) {
    const args = { modelId: model.id, backend, size: model.inputSize, range: model.range };
    const sizes = model.inputSize > 10_000 ? config.finetune.large : config.finetune.small;
    try {
      rows.push(await page.evaluate(fineTune, { ...args, ...sizes }));
    } catch (error) {
      rows.push({ backend, error: String(error.message || error).split("\n")[0] });
    }
    const last = rows[rows.length - 1];
    console.error(
      `  ${model.id} fine-tuning on ${backend}: ${last.error || last.samples_per_s.toFixed(1) + " samples/s"}`,
    );
  }
  await context.close();
  return rows;
}

async function edgeshipVisits(browser, config, model, fastest, errors) {
  const context = await browser.newContext();
  const args = {
    modelId: model.id,
    variant: fastest.variant,
    backend: fastest.backend === "tflite" ? "wasm" : fastest.backend,
    size: model.inputSize,
    range: model.range,
    runs: config.runs,
    warmup: config.warmup,
    budgetMs: config.budgetMs,
  };
  const cold = await openApp(context, config.edgeshipUrl, errors);
  const coldRaw = await cold.evaluate(timeInApp, args);
  await cold.evaluate(() => window.edgeship.controlled());
  // A second visit under the service worker puts this model's files in its runtime cache (the default
  // model's are precached at install); the third, offline, is served from the cache alone.
  await cold.reload();
  await cold.waitForFunction(() => window.edgeship && window.edgeship.ready);
  await cold.evaluate(timeInApp, { ...args, runs: 1, warmup: 1 });
  await cold.close();
  await context.setOffline(true);
  let cached;
  let offline = true;
  try {
    const page = await openApp(context, config.edgeshipUrl, errors);
    cached = await page.evaluate(timeInApp, { ...args, runs: 1, warmup: 1 });
  } catch (error) {
    errors.push(`offline visit failed, measured online instead: ${error.message}`);
    offline = false;
    await context.setOffline(false);
    const page = await openApp(context, config.edgeshipUrl, errors);
    cached = await page.evaluate(timeInApp, { ...args, runs: 1, warmup: 1 });
  }
  await context.close();
  return {
    ttfp_cold_ms: coldRaw.firstPredictionAt,
    ttfp_cached_ms: cached.firstPredictionAt,
    cached_offline: offline,
    median_ms: median(coldRaw.roundTrip),
    worker_median_ms: median(coldRaw.worker),
    runs: coldRaw.roundTrip.length,
  };
}

async function plainVisits(browser, config, model, errors) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  const query = new URLSearchParams({ model: model.plainModel, runs: config.runs, budget: config.budgetMs });
  const url = `${config.plainUrl}?${query}`;
  const visit = async () => {
    await page.waitForFunction(() => window.plainResult, null, { timeout: 60_000 });
    const result = await page.evaluate(() => window.plainResult);
    if (result.error) throw new Error(`plain page: ${result.error}`);
    return result;
  };
  await page.goto(url);
  const cold = await visit();
  await page.reload();
  const warm = await visit();
  await context.close();
  return {
    backend: cold.backend,
    ttfp_cold_ms: cold.firstPredictionMs,
    ttfp_cached_ms: warm.firstPredictionMs,
    median_ms: median(cold.times),
    runs: cold.times.length,
  };
}

async function main() {
  const [configPath, outPath] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
  const errors = [];
  const out = { chromium: browser.version(), models: {} };
  try {
    for (const model of config.models) {
      console.error(`browser: ${model.id}: every variant, runtime and backend`);
      const found = await matrix(browser, config, model, errors);
      const canTrain = found.methods.includes("train") && found.methods.includes("finetuneSetup");
      const finetune = canTrain && config.finetune ? await fineTuning(browser, config, model, errors) : null;
      const usable = found.rows.filter((row) => !row.error);
      if (!usable.length) throw new Error(`${model.id}: no variant ran in the app`);
      const fastest = usable.reduce((a, b) => (b.median_ms < a.median_ms ? b : a));
      const rounds = [];
      for (let round = 0; round < config.rounds; round += 1) {
        console.error(`browser: ${model.id}: head to head ${round + 1}/${config.rounds}`);
        const sides = {};
        const order = round % 2 === 0 ? ["edgeship", "plain"] : ["plain", "edgeship"];
        for (const side of order) {
          sides[side] =
            side === "edgeship"
              ? await edgeshipVisits(browser, config, model, fastest, errors)
              : await plainVisits(browser, config, model, errors);
        }
        rounds.push(sides);
      }
      const ratio = (key) => stats(rounds.map((r) => r.edgeship[key] / r.plain[key]));
      out.models[model.id] = {
        matrix: found.rows,
        env: found.env,
        engine_methods: found.methods,
        fine_tuning: finetune,
        fastest: { variant: fastest.variant, runtime: fastest.runtime, backend: fastest.backend },
        rounds,
        edgeship: {
          median_ms: stats(rounds.map((r) => r.edgeship.median_ms)),
          ttfp_cold_ms: stats(rounds.map((r) => r.edgeship.ttfp_cold_ms)),
          ttfp_cached_ms: stats(rounds.map((r) => r.edgeship.ttfp_cached_ms)),
        },
        plain: {
          backend: rounds[0].plain.backend,
          median_ms: stats(rounds.map((r) => r.plain.median_ms)),
          ttfp_cold_ms: stats(rounds.map((r) => r.plain.ttfp_cold_ms)),
          ttfp_cached_ms: stats(rounds.map((r) => r.plain.ttfp_cached_ms)),
        },
        median_ratio: ratio("median_ms"),
        ttfp_cold_ratio: ratio("ttfp_cold_ms"),
        ttfp_cached_ratio: ratio("ttfp_cached_ms"),
      };
    }
  } finally {
    await browser.close();
  }
  out.page_errors = errors;
  writeFileSync(outPath, JSON.stringify(out, null, 1));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
