// Browser benchmark (Playwright driving Debian's Chromium). Called by bench/browser.py:
//
//   node bench/browser/run.mjs CONFIG.json OUT.json
//
// CONFIG: {edgeshipUrl, plainUrl, plainPages: [baseline ids], models: [{id, inputSize, range,
//          variants: {id: target}, plainModel, tfliteFiles: {variant: url}}], backends, runs, warmup, warmupMs,
//          budgetMs, rounds, finetune: {backends, small, large}, webgpu}
// 1. matrix: in edgeship's app, every variant on every runtime and backend (webgpu only where the browser
//    gives an adapter): median single-sample latency (page -> engine worker -> page round trip, and the
//    worker's own figure). The runtime is the one the engine reports (engine.load).
// 2. head to head, `rounds` times, the sides' order rotating each round: edgeship's fastest path (from the
//    matrix; never tflite-dynamic-int8, a download-size variant) against the plain pages (plain-visits.mjs:
//    tfjs default backend, tfjs wasm, the same .tflite file on tfjs-tflite and on LiteRT.js), each cross-origin
//    isolated like the app. Time to first prediction is counted from navigation start: cold (fresh profile),
//    then from the service worker cache (edgeship, offline) or the HTTP cache (plain pages, no service worker),
//    with where the time went (performance marks, the engine worker's start and its resource timing).
// 3. fine-tuning, when the engine has it: samples per second of engine.train per training backend.
// Drives the app only through its `window.edgeship` handle (webapp/static/app/ui/main.js).
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { BASELINES, baselineFile, plainVisits } from "./plain-visits.mjs";
import { median, stagesOver, stats } from "./stats.mjs";
import { breakdown } from "./timeline.mjs";

const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
// --webgpu (bench/run.py): SwiftShader's software Vulkan behind Chromium's WebGPU, as the e2e webgpu project
// runs it. Slow (about 1 s per MobileNetV2 inference): the webgpu rows then say it runs, not how fast a GPU is.
const WEBGPU_ARGS = [
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--use-webgpu-adapter=swiftshader",
];

// Never the app's pick (a download-size variant: the Compare view says so), so never the fastest path here.
const NOT_A_PATH = new Set(["tflite-dynamic-int8"]);

async function openApp(context, url, errors) {
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => window.edgeship && window.edgeship.ready, null, { timeout: 60_000 });
  // When `ready` settled, on the page's clock (ms from navigation start).
  const readyAt = await page.evaluate(async () => {
    await window.edgeship.ready;
    return performance.now();
  });
  return Object.assign(page, { readyAt });
}

// Runs in the page: loads one variant on one backend (engine.load: the runtime it runs on), then times
// engine.predict. The first prediction is load + first call.
async function timeInApp({ modelId, variant, backend, size, range, runs, warmup, warmupMs, budgetMs }) {
  const engine = window.edgeship.engine;
  const input = new Float32Array(size);
  let seed = 1;
  for (let i = 0; i < size; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    input[i] = range[0] + ((range[1] - range[0]) * seed) / 2147483648;
  }
  const call = () => engine.predict({ modelId, variant, backend, input });
  const t0 = performance.now();
  const loaded = await engine.load({ modelId, variant, backend });
  const first = await call();
  const firstMs = performance.now() - t0;
  const afterFirst = performance.now();
  // Warm up by count and by time: right after `ready` the app still starts things in the background.
  for (let i = 1; i < warmup || performance.now() - afterFirst < (warmupMs || 0); i += 1) await call();
  const roundTrip = [];
  const worker = [];
  const started = performance.now();
  while (roundTrip.length < runs && (roundTrip.length < 3 || performance.now() - started < budgetMs)) {
    const t = performance.now();
    const result = await call();
    roundTrip.push(performance.now() - t);
    worker.push(result.latencyMs);
  }
  return {
    runtime: loaded.runtime,
    backend: first.backend,
    loadMs: loaded.loadMs,
    firstMs,
    firstPredictionAt: afterFirst,
    roundTrip,
    worker,
  };
}

function summarise(raw) {
  return {
    runtime: raw.runtime,
    backend: raw.backend,
    first_ms: raw.firstMs,
    load_ms: raw.loadMs,
    median_ms: median(raw.roundTrip),
    min_ms: Math.min(...raw.roundTrip),
    max_ms: Math.max(...raw.roundTrip),
    worker_median_ms: median(raw.worker),
    runs: raw.roundTrip.length,
  };
}

/** The backends to time a variant on: webgpu only where the engine found an adapter for that runtime. */
function backendsFor(target, config, env) {
  if (target === "tfjs") return env.webgpu ? [...config.backends, "webgpu"] : config.backends;
  return env.litert && env.litert.webgpu ? ["wasm", "webgpu"] : ["wasm"];
}

async function matrix(browser, config, model, errors) {
  const context = await browser.newContext();
  const page = await openApp(context, config.edgeshipUrl, errors);
  const env = await page.evaluate(() => window.edgeship.engine.init());
  const rows = [];
  for (const [variant, target] of Object.entries(model.variants)) {
    for (const backend of backendsFor(target, config, env)) {
      const row = { variant, target, runtime: target === "tfjs" ? "tfjs" : "?", backend };
      try {
        const raw = await page.evaluate(timeInApp, {
          modelId: model.id,
          variant,
          backend,
          size: model.inputSize,
          range: model.range,
          runs: config.runs,
          warmup: config.warmup,
          warmupMs: config.warmupMs,
          budgetMs: config.budgetMs,
        });
        Object.assign(row, summarise(raw));
      } catch (error) {
        row.error = String(error.message || error).split("\n")[0];
      }
      await page.evaluate((id) => window.edgeship.engine.unload({ modelId: id }), model.id);
      rows.push(row);
      const label = `${row.runtime} ${backend}`;
      console.error(`  ${model.id} ${variant} ${label}: ${row.error || row.median_ms.toFixed(2) + " ms"}`);
    }
  }
  const methods = await page.evaluate(() => Object.keys(window.edgeship.engine).filter((k) => k !== "ready"));
  await context.close();
  return { rows, env, methods };
}

// Runs in the page: fine-tunes the export's tfjs-fp32 model on `count` random samples spread over
// `classes` of its own classes, training only the head (the layers finetuneSetup marks as head), and
// returns the engine's summary.
async function fineTune({ modelId, backend, size, range, count, classes, epochs, batchSize }) {
  const engine = window.edgeship.engine;
  const setup = await engine.finetuneSetup({ modelId, start: "export" });
  const inputs = new Float32Array(count * size);
  let seed = 7;
  for (let i = 0; i < inputs.length; i += 1) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    inputs[i] = range[0] + ((range[1] - range[0]) * seed) / 2147483648;
  }
  const labels = setup.labels;
  const used = Math.min(classes || labels.length, labels.length);
  const targets = Array.from({ length: count }, (_, i) => i % used);
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
    requested: backend,
    backend: summary.backend,
    samples_per_s: summary.samplesPerSecond,
    seconds: summary.seconds,
    samples: summary.samples,
    training_samples: summary.trainingSamples ?? summary.samples,
    held_out: summary.heldOut ?? 0,
    classes: used,
    epochs: summary.epochs,
    batch_size: batchSize,
    frozen_start_cached: summary.frozenStartCached ?? null,
    not_cached_because: summary.notCachedBecause ?? null,
    feature_seconds: summary.featureSeconds ?? null,
    feature_backend: summary.featureBackend ?? null,
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
      rows.push({ requested: backend, backend, error: String(error.message || error).split("\n")[0] });
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
    backend: fastest.backend,
    size: model.inputSize,
    range: model.range,
    runs: config.runs,
    warmup: config.warmup,
    warmupMs: config.warmupMs,
    budgetMs: config.budgetMs,
  };
  const cold = await openApp(context, config.edgeshipUrl, errors);
  const coldRaw = await cold.evaluate(timeInApp, { ...args, runs: 1, warmup: 1, warmupMs: 0 });
  await cold.evaluate(() => window.edgeship.controlled());
  // A second visit under the service worker puts this model's files in its runtime cache (the default
  // model's are precached at install); the third, offline, is served from the cache alone.
  await cold.reload();
  await cold.waitForFunction(() => window.edgeship && window.edgeship.ready);
  await cold.evaluate(timeInApp, { ...args, runs: 1, warmup: 1, warmupMs: 0 });
  await cold.close();
  await context.setOffline(true);
  let cached;
  let page;
  let offline = true;
  try {
    page = await openApp(context, config.edgeshipUrl, errors);
    cached = await page.evaluate(timeInApp, args);
  } catch (error) {
    errors.push(`offline visit failed, measured online instead: ${error.message}`);
    offline = false;
    await context.setOffline(false);
    page = await openApp(context, config.edgeshipUrl, errors);
    cached = await page.evaluate(timeInApp, args);
  }
  const stages = await breakdown(page, model.id, cached.firstPredictionAt).catch((error) => [
    { stage: "breakdown", at_ms: null, source: `failed: ${error.message.split("\n")[0]}` },
  ]);
  await context.close();
  return {
    ttfp_cold_ms: coldRaw.firstPredictionAt,
    ttfp_cached_ms: cached.firstPredictionAt,
    cached_offline: offline,
    cached_stages: stages,
    // Latency in the cached visit: on the cold one the service worker precaches in the background.
    median_ms: median(cached.roundTrip),
    worker_median_ms: median(cached.worker),
    runs: cached.roundTrip.length,
  };
}

/** Summaries over rounds of one side's figures, and the per-round ratio edgeship / that side. */
function sideSummary(rounds, side) {
  const ok = rounds.filter((r) => r[side] && !r[side].error);
  if (!ok.length) return { error: rounds.map((r) => r[side] && r[side].error).find(Boolean) || "not run" };
  const over = (key) => stats(ok.map((r) => r[side][key]));
  const ratio = (key) => stats(ok.map((r) => r.edgeship[key] / r[side][key]));
  return {
    file: ok[0][side].file,
    runtime: ok[0][side].runtime,
    backend: ok[0][side].backend,
    threads: ok[0][side].threads,
    cross_origin_isolated: ok[0][side].cross_origin_isolated,
    median_ms: over("median_ms"),
    ttfp_cold_ms: over("ttfp_cold_ms"),
    ttfp_cached_ms: over("ttfp_cached_ms"),
    median_ratio: ratio("median_ms"),
    ttfp_cold_ratio: ratio("ttfp_cold_ms"),
    ttfp_cached_ratio: ratio("ttfp_cached_ms"),
    cached_stages: stagesOver(ok.map((r) => r[side].cached_stages)),
    rounds: ok.length,
  };
}

async function main() {
  const [configPath, outPath] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  const baselines = (config.plainPages || Object.keys(BASELINES)).filter((id) => BASELINES[id]);
  const args = config.webgpu ? [...ARGS, ...WEBGPU_ARGS] : ARGS;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args });
  const errors = [];
  const out = { chromium: browser.version(), baselines: {}, models: {} };
  for (const id of baselines) out.baselines[id] = { page: BASELINES[id].page, label: BASELINES[id].label };
  try {
    for (const model of config.models) {
      console.error(`browser: ${model.id}: every variant, runtime and backend`);
      const found = await matrix(browser, config, model, errors);
      const canTrain = found.methods.includes("train") && found.methods.includes("finetuneSetup");
      const finetune = canTrain && config.finetune ? await fineTuning(browser, config, model, errors) : null;
      const usable = found.rows.filter((row) => !row.error && !NOT_A_PATH.has(row.variant));
      if (!usable.length) throw new Error(`${model.id}: no variant ran in the app`);
      const fastest = usable.reduce((a, b) => (b.median_ms < a.median_ms ? b : a));
      const sides = ["edgeship", ...baselines];
      const rounds = [];
      for (let round = 0; round < config.rounds; round += 1) {
        console.error(`browser: ${model.id}: head to head ${round + 1}/${config.rounds}`);
        const shift = round % sides.length;
        const order = [...sides.slice(shift), ...sides.slice(0, shift)];
        const result = {};
        for (const side of order) {
          result[side] =
            side === "edgeship"
              ? await edgeshipVisits(browser, config, model, fastest, errors)
              : await plainVisits(browser, config, model, side, baselineFile(model, side, fastest), errors);
          const r = result[side];
          console.error(
            `  ${side}: ${r.error || `${r.median_ms.toFixed(2)} ms, cached first ${r.ttfp_cached_ms.toFixed(0)} ms`}`,
          );
        }
        rounds.push(result);
      }
      const vs = Object.fromEntries(baselines.map((id) => [id, sideSummary(rounds, id)]));
      const plain = vs["tfjs-default"] || {};
      out.models[model.id] = {
        matrix: found.rows,
        env: found.env,
        engine_methods: found.methods,
        fine_tuning: finetune,
        fastest: { variant: fastest.variant, runtime: fastest.runtime, backend: fastest.backend },
        rounds,
        edgeship: {
          median_ms: stats(rounds.map((r) => r.edgeship.median_ms)),
          worker_median_ms: stats(rounds.map((r) => r.edgeship.worker_median_ms)),
          ttfp_cold_ms: stats(rounds.map((r) => r.edgeship.ttfp_cold_ms)),
          ttfp_cached_ms: stats(rounds.map((r) => r.edgeship.ttfp_cached_ms)),
          cached_offline: rounds.every((r) => r.edgeship.cached_offline),
          cached_stages: stagesOver(rounds.map((r) => r.edgeship.cached_stages)),
        },
        baselines: vs,
        // The tfjs default-backend page, as before (what the issue's "now" figures were measured against).
        plain: {
          backend: plain.backend,
          median_ms: plain.median_ms,
          ttfp_cold_ms: plain.ttfp_cold_ms,
          ttfp_cached_ms: plain.ttfp_cached_ms,
        },
        median_ratio: plain.median_ratio,
        ttfp_cold_ratio: plain.ttfp_cold_ratio,
        ttfp_cached_ratio: plain.ttfp_cached_ratio,
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
