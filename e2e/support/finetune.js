// Helpers for the fine-tuning tests: drive the Fine-tune view and run batches through the engine.
import { expect } from "@playwright/test";

/** Top-1 class of each row. */
export function top1(scores, classes) {
  const out = [];
  for (let r = 0; r < scores.length / classes; r += 1) {
    let best = 0;
    for (let c = 1; c < classes; c += 1) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

export function share(a, b) {
  return a.filter((value, i) => value === b[i]).length / a.length;
}

/** Outputs of `variant` (an export's, or "ft:<key>") on `inputs` (number[][]), through the app's engine. */
export async function run(page, { modelId = "demo", variant, backend = "cpu", inputs }) {
  const out = await page.evaluate(
    async (args) => {
      const flat = Float32Array.from(args.inputs.flat());
      const result = await window.edgeship.engine.predictBatch({
        ...args,
        inputs: flat,
        count: args.inputs.length,
      });
      return { scores: Array.from(result.scores), classes: result.classes, backend: result.backend };
    },
    { modelId, variant, backend, inputs },
  );
  return { ...out, top1: top1(out.scores, out.classes) };
}

export async function accuracy(page, options, labels) {
  return share((await run(page, options)).top1, labels);
}

/** Uploads the samples class by class through the view's "Upload images" (8x8 PNGs: used as they are). */
export async function addSamples(page, set, className = (label) => String(label)) {
  const before = Number(await page.locator("#ft-samples").getAttribute("data-count"));
  const classes = [...new Set(set.labels)];
  for (const label of classes) {
    const files = set.pngs
      .map((buffer, i) => ({ buffer, label: set.labels[i], i }))
      .filter((item) => item.label === label)
      .map((item) => ({ name: `s${item.i}.png`, mimeType: "image/png", buffer: item.buffer }));
    await page.selectOption("#ft-class", className(label));
    await page.setInputFiles("#ft-upload", files);
  }
  await expect(page.locator("#ft-samples")).toHaveAttribute("data-count", String(before + set.labels.length));
}

/** Sets the hyper-parameters and trains; returns the saved model's key, backend and throughput. */
export async function train(
  page,
  { epochs, learningRate, batchSize = 16, backend, name, timeout = 120_000 },
) {
  await page.fill("#ft-epochs", String(epochs));
  await page.fill("#ft-lr", String(learningRate));
  await page.selectOption("#ft-batch", String(batchSize));
  await page.selectOption("#ft-backend", backend);
  if (name) await page.fill("#ft-name", name);
  const view = page.locator("#view-finetune");
  const previous = (await view.getAttribute("data-key")) || "";
  await page.click("#ft-train-button");
  await page.waitForFunction(
    (old) => {
      const { state, key } = document.querySelector("#view-finetune").dataset;
      if (state === "failed") throw new Error(document.querySelector("#ft-status").textContent);
      return state === "done" && key !== old;
    },
    previous,
    { timeout },
  );
  return view.evaluate((element) => ({
    key: element.dataset.key,
    backend: element.dataset.backend,
    samplesPerSecond: Number(element.dataset.samplesPerSecond),
  }));
}
