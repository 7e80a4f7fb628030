// Fine-tuning in the browser. The data: the export's own eval digits, inverted (dark ink on light paper,
// e2e/support/digits.js), which the base model gets almost all wrong. Training in the worker on half of
// them must fix the other half, keep the page responsive, survive a reload offline, and come back from the
// server as a TFLite ladder that computes what the browser's model computes.
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { finetunedVariant } from "../webapp/static/app/shared/finetuned-id.js";
import { appReady, drawSeven, expect, openApp, predictWith, test, waitForController } from "./fixtures.js";
import { crosses, shiftedDigits } from "./support/digits.js";
import { accuracy, addSamples, run, share, train } from "./support/finetune.js";
import { serveCopy } from "./support/server.js";

async function snap(page, name) {
  const file = test.info().outputPath(`${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await test.info().attach(name, { path: file, contentType: "image/png" });
}

/** Records main-thread long tasks (PerformanceObserver "longtask") and the longest gap between frames. */
async function watchMainThread(page) {
  await page.evaluate(() => {
    const watch = { longTasks: [], maxFrameGap: 0, running: true };
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) watch.longTasks.push(entry.duration);
    }).observe({ type: "longtask" });
    let last = performance.now();
    const frame = (now) => {
      watch.maxFrameGap = Math.max(watch.maxFrameGap, now - last);
      last = now;
      if (watch.running) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    window.__mainThread = watch;
  });
  return () =>
    page.evaluate(() => {
      window.__mainThread.running = false;
      const { longTasks, maxFrameGap } = window.__mainThread;
      return { count: longTasks.length, longest: Math.max(0, ...longTasks), maxFrameGap };
    });
}

function maxAbsDiff(a, b) {
  expect(a).toHaveLength(b.length);
  return a.reduce((max, value, i) => Math.max(max, Math.abs(value - b[i])), 0);
}

test("fine-tuning on inverted digits lifts held-out accuracy, keeps the page responsive, works after a reload offline", async ({
  page,
  context,
  exportsDir,
}) => {
  test.setTimeout(180_000);
  const { train: trainSet, heldOut } = shiftedDigits(path.join(exportsDir, "demo"));
  await openApp(page, "#finetune");
  await waitForController(page);
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");

  const base = await accuracy(page, { variant: "tfjs-fp32", inputs: heldOut.inputs }, heldOut.labels);
  expect(base).toBeLessThan(0.3); // the shift is real: the base model does badly

  await addSamples(page, trainSet);
  await expect(page.locator('input[name="ft-layer"]:checked')).toHaveCount(1); // default: the head only
  await expect(page.locator('input[name="ft-layer"][value="probabilities"]')).toBeChecked();
  const mainThread = await watchMainThread(page);
  const trained = await train(page, { epochs: 20, learningRate: 0.01, backend: "webgl", name: "inverted" });
  const thread = await mainThread();
  expect(trained.backend).toBe("webgl");
  await expect(page.locator("#ft-backend-used")).toHaveText("running on webgl");
  expect(thread.longest).toBeLessThanOrEqual(200);
  await snap(page, "finetune-trained");

  const variant = finetunedVariant(trained.key);
  const tuned = await accuracy(page, { variant, inputs: heldOut.inputs }, heldOut.labels);
  console.log(
    `fine-tune: held-out accuracy ${(100 * base).toFixed(1)} % -> ${(100 * tuned).toFixed(1)} % ` +
      `(${trainSet.labels.length} training samples, ${heldOut.labels.length} held out); webgl ` +
      `${trained.samplesPerSecond.toFixed(0)} samples/s; main thread during training: ${thread.count} long ` +
      `tasks, longest ${thread.longest.toFixed(0)} ms, longest frame gap ${thread.maxFrameGap.toFixed(0)} ms`,
  );
  expect(tuned - base).toBeGreaterThanOrEqual(0.2);

  // Saved with a name and a date; renamed; downloadable as TFJS files.
  const row = page.locator(`#ft-saved-table tr[data-key="${trained.key}"]`);
  await expect(row).toHaveAttribute("data-name", "inverted");
  await row.locator('input[type="text"]').fill("inverted digits");
  await row.locator("button.rename").click();
  await expect(row).toHaveAttribute("data-name", "inverted digits");
  const downloads = [];
  page.on("download", (download) => downloads.push(download));
  await row.locator("button.download").click();
  await expect.poll(() => downloads.length).toBe(2);
  const names = downloads.map((download) => download.suggestedFilename()).sort();
  expect(names).toEqual(["inverted-digits.json", "inverted-digits.weights.bin"]);

  // The inference view lists it beside the exported variants and predicts with it.
  await row.locator("button.use").click();
  await expect(page.locator("#view-infer")).toBeVisible();
  await expect(page.locator("#variant-select")).toHaveValue(variant);
  await drawSeven(page);
  const online = await predictWith(page, variant, "cpu");

  await context.setOffline(true);
  await page.reload();
  await openApp(page);
  await expect(page.locator("#offline-badge")).toBeVisible();
  await expect(page.locator(`#variant-select option[value="${variant}"]`)).toHaveText(/inverted digits/);
  await drawSeven(page);
  const offline = await predictWith(page, variant, "cpu");
  expect(offline.scores).toEqual(online.scores);
  const again = await accuracy(page, { variant, inputs: heldOut.inputs }, heldOut.labels);
  expect(again).toBe(tuned);
  await page.click("#tab-finetune");
  await expect(page.locator(`#ft-saved-table tr[data-key="${trained.key}"]`)).toBeVisible();
  await context.setOffline(false);
});

test("training throughput per backend is recorded (test-results/finetune-throughput.json)", async ({
  page,
  exportsDir,
}) => {
  test.setTimeout(180_000);
  const { train: trainSet } = shiftedDigits(path.join(exportsDir, "demo"));
  await openApp(page, "#finetune");
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
  await addSamples(page, trainSet);
  const runs = [];
  const memory = [];
  for (const [layers, epochs] of [
    ["head", 10],
    ["all", 2],
  ]) {
    if (layers === "all")
      for (const box of await page.locator('input[name="ft-layer"]').all()) await box.check();
    for (const backend of ["webgl", "cpu"]) {
      const trained = await train(page, { epochs, learningRate: 0.001, backend });
      expect(trained.backend).toBe(backend);
      if (backend === "cpu") memory.push(await page.evaluate(() => window.edgeship.engine.memory()));
      runs.push({
        backend,
        layers,
        epochs,
        samples: trainSet.labels.length,
        samplesPerSecond: trained.samplesPerSecond,
      });
    }
  }
  const env = await page.evaluate(() => window.edgeship.env);
  const record = {
    what: "in-browser fine-tuning throughput (samples per second, training samples x epochs / wall time)",
    model: "edgeship demo digits CNN (8x8x1, 29 k parameters)",
    batchSize: 16,
    browser: `Chromium ${page.context().browser().version()} headless (webgl: SwiftShader, software)`,
    cores: env.cores,
    note: "head: only the Dense head trains; the frozen layers before it run once, not every epoch",
    runs,
  };
  mkdirSync("test-results", { recursive: true });
  writeFileSync("test-results/finetune-throughput.json", `${JSON.stringify(record, null, 2)}\n`);
  console.log(
    `fine-tune throughput: ${runs.map((r) => `${r.layers}/${r.backend} ${r.samplesPerSecond.toFixed(0)}`).join(", ")} samples/s`,
  );
  for (const entry of runs) expect(entry.samplesPerSecond).toBeGreaterThan(0);

  // Cancel stops a long training after the current batch and saves nothing; no tensor is left behind.
  const saved = await page.locator("#ft-saved-table tbody tr").count();
  await page.fill("#ft-epochs", "200");
  await page.click("#ft-train-button");
  await expect(page.locator("#ft-status")).toContainText("epoch 1/200");
  await page.click("#ft-cancel");
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "cancelled");
  await expect(page.locator("#ft-status")).toHaveText("Cancelled: nothing was saved.");
  await expect(page.locator("#ft-saved-table tbody tr")).toHaveCount(saved);
  memory.push(await page.evaluate(() => window.edgeship.engine.memory()));
  for (const box of await page.locator('input[name="ft-layer"]:not([value="probabilities"])').all()) {
    await box.uncheck();
  }
  await train(page, { epochs: 2, learningRate: 0.001, backend: "cpu" }); // the head only, again
  memory.push(await page.evaluate(() => window.edgeship.engine.memory()));
  for (const later of memory.slice(1)) expect(later).toEqual(memory[0]);
});

test("Convert for mobile: queued offline, sent online, and the TFLite ladder matches the browser's model", async ({
  page,
  context,
  exportsDir,
}) => {
  test.setTimeout(240_000);
  const server = await serveCopy(exportsDir, "finetune");
  try {
    const { train: trainSet, heldOut } = shiftedDigits(path.join(exportsDir, "demo"));
    await page.goto(`${server.url}#finetune`);
    await appReady(page);
    await waitForController(page);
    await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");

    // A new class: the head is rebuilt with one more unit.
    await page.fill("#ft-new-class", "x");
    await page.click("#ft-add-class");
    await expect(page.locator("#ft-counts tr[data-label]")).toHaveCount(11);
    await addSamples(page, trainSet);
    await addSamples(page, crosses(18, "x"), String);
    const trained = await train(page, {
      epochs: 20,
      learningRate: 0.01,
      backend: "cpu",
      name: "inverted + x",
    });
    const variant = finetunedVariant(trained.key);
    const browser = await run(page, { variant, inputs: heldOut.inputs });
    expect(browser.classes).toBe(11);
    expect(share(browser.top1, heldOut.labels)).toBeGreaterThan(0.5);

    // Offline: the upload waits in the outbox and says so.
    await context.setOffline(true);
    await page.locator(`#ft-saved-table tr[data-key="${trained.key}"] button.convert`).click();
    const item = page.locator("#ft-outbox li").first();
    await expect(item).toHaveAttribute("data-state", "queued");
    await expect(item).toContainText("Queued: sent when the network returns");
    await snap(page, "finetune-queued");
    await context.setOffline(false); // the "online" event sends it
    await expect(item).toHaveAttribute("data-state", "done", { timeout: 180_000 });
    const exportId = await item.getAttribute("data-export-id");
    expect(exportId).toMatch(/^demo-ft-\d{14}-[0-9a-f]{6}$/);
    for (const ladder of ["tflite-fp32", "tflite-dynamic-int8", "tflite-int8"]) {
      await expect(item.locator(`tr[data-variant="${ladder}"] a[download]`)).toHaveAttribute(
        "href",
        new RegExp(`^/models/${exportId}/tflite/.+\\.tflite$`),
      );
    }
    await expect(page.locator(`#model-select option[value="${exportId}"]`)).toHaveCount(1);
    await snap(page, "finetune-converted");

    // The returned .tflite files, run by the app's own TFLite runtime on the same inputs.
    const fp32 = await run(page, { modelId: exportId, variant: "tflite-fp32", inputs: heldOut.inputs });
    const diff = maxAbsDiff(fp32.scores, browser.scores);
    const int8 = await run(page, { modelId: exportId, variant: "tflite-int8", inputs: heldOut.inputs });
    const agreement = share(int8.top1, browser.top1);
    console.log(
      `round trip ${exportId}: tflite-fp32 vs browser max abs diff ${diff.toExponential(2)}; ` +
        `tflite-int8 top-1 agreement ${(100 * agreement).toFixed(1)} % on ${heldOut.labels.length} held-out samples`,
    );
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(agreement).toBeGreaterThanOrEqual(0.98);
  } finally {
    await server.stop();
  }
});

/** Every file and folder under `root` (hidden ones too) with its size. */
function listing(root) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const stat = statSync(full);
      out.push(`${path.relative(root, full)} ${stat.isDirectory() ? "dir" : stat.size}`);
      if (stat.isDirectory()) walk(full);
    }
  };
  walk(root);
  return out;
}

// Each upload is the export's own tfjs-fp32 model (a valid upload) with one thing broken.
const BROKEN_UPLOADS = [
  ["a missing part", "missing-samples", 400, /missing part\(s\) samples/],
  ["a model part that is not JSON", "not-json", 400, /not valid JSON/],
  ["a mismatched topology", "conv-filters", 400, /conv1.*filters/],
  ["a head that shrinks", "shrunk-head", 400, /units/],
  ["weights 4 bytes short", "short-weights", 400, /weights: .* bytes/],
  ["samples of the wrong shape", "sample-shape", 400, /samples: shape/],
  ["NaN weights", "nan-weights", 400, /NaN or Inf/],
  ["an oversized body", "oversized", 413, /too large/],
];

test("malformed, mismatched and oversized uploads are refused and leave the served folder unchanged", async ({
  page,
  exportsDir,
}) => {
  const server = await serveCopy(exportsDir, "finetune");
  try {
    await page.goto(server.url);
    await appReady(page);
    const before = {
      api: await (await page.request.get(`${server.url}api/models`)).text(),
      files: listing(server.served),
    };
    for (const [what, broken, status, message] of BROKEN_UPLOADS) {
      const answer = await page.evaluate(async (kind) => {
        const manifest = await (await fetch("/models/demo/manifest.json")).json();
        const entry = `/models/demo/${manifest.variants["tfjs-fp32"].entry}`;
        const base = entry.slice(0, entry.lastIndexOf("/") + 1);
        const modelJson = await (await fetch(entry)).json();
        const [group] = modelJson.weightsManifest;
        let weights = await (await fetch(base + group.paths[0])).arrayBuffer();
        let specs = structuredClone(group.weights);
        const topology = structuredClone(modelJson.modelTopology);
        let samplesShape = [4, 8, 8, 1];
        let samples = new Float32Array(4 * 64).fill(0.5).buffer;
        const layer = (name) => topology.config.layers.find((l) => (l.config || {}).name === name);
        if (kind === "conv-filters") layer("conv1").config.filters = 16;
        if (kind === "shrunk-head") {
          layer("probabilities").config.units = 9;
          specs = specs.map((s) =>
            s.name.startsWith("probabilities/") ? { ...s, shape: [...s.shape.slice(0, -1), 9] } : s,
          );
        }
        if (kind === "short-weights") weights = weights.slice(0, weights.byteLength - 4);
        if (kind === "nan-weights") {
          weights = weights.slice(0);
          new Float32Array(weights)[0] = NaN;
        }
        if (kind === "sample-shape") samplesShape = [4, 8, 8];
        if (kind === "oversized") weights = new ArrayBuffer(16 * 1024 * 1024);
        const model = {
          format: "layers-model",
          modelTopology: topology,
          weightSpecs: specs,
          samples: { shape: samplesShape },
        };
        const form = new FormData();
        form.append("model", new Blob([kind === "not-json" ? "{model" : JSON.stringify(model)]), "model");
        form.append("weights", new Blob([weights]), "weights");
        if (kind !== "missing-samples") form.append("samples", new Blob([samples]), "samples");
        const response = await fetch("/api/models/demo/finetuned", { method: "POST", body: form });
        return { status: response.status, body: await response.text() };
      }, broken);
      expect(answer.status, `${what}: ${answer.body}`).toBe(status);
      expect(JSON.parse(answer.body).error, what).toMatch(message);
    }
    expect(await (await page.request.get(`${server.url}api/models`)).text()).toBe(before.api);
    expect(listing(server.served)).toEqual(before.files);
  } finally {
    await server.stop();
  }
});
