// A photo model in Chromium: an RGB export with labels and a [-1, 1] input (built by global-setup through
// e2e/support/photo.js) gets photo preprocessing, not the digits pad's: for scikit-learn's sample photo on a
// white background, uploaded as a PNG, the input the page computed equals exporter/image_preprocessing.py's
// (max abs diff <= 1/255) and the classes show by their labels, the top 5 of 12.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { formatBytes, formatMs } from "../webapp/static/app/ui/dom.js";
import { appReady, expect, openApp, test as base } from "./fixtures.js";
import { referenceInput } from "./support/photo.js";
import { serveCopy, startServer } from "./support/server.js";

const test = base.extend({
  photoDir: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const dir = process.env.EDGESHIP_E2E_PHOTO;
      if (!dir) throw new Error("EDGESHIP_E2E_PHOTO is not set: run through `npx playwright test`");
      await use(dir);
    },
    { scope: "worker" },
  ],
  // This file's server: the real `edgeship serve` over the photo export only.
  server: [
    async ({ photoDir }, use) => {
      const server = await startServer(path.join(photoDir, "exports"));
      await use(server);
      await server.stop();
    },
    { scope: "worker" },
  ],
});

test("a photo on white: the page's input is the Python reference's, not inverted; top 5 by label", async ({
  page,
  photoDir,
}) => {
  await openApp(page);
  const manifest = await page.evaluate(() => window.edgeship.state.manifest);
  expect(manifest.preprocessing).toMatchObject({ channels: 3, range: [-1, 1], resize: "crop", ink: null });
  // A photo area, not the drawing pad.
  await expect(page.locator("#image-input")).toHaveAttribute("data-mode", "photo");
  await expect(page.locator("#image-input h2")).toHaveText("Upload a photo");
  await expect(page.locator("#draw-canvas")).toBeHidden();
  await expect(page.locator("#photo-canvas")).toBeVisible();

  const png = path.join(photoDir, "photo.png");
  await page.setInputFiles("#upload-input", png);
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");

  const input = await page.evaluate(() => Array.from(window.edgeship.views.infer.lastInput));
  const reference = referenceInput(png, path.join(photoDir, "exports/photo/manifest.json"));
  expect(reference.shape).toEqual([32, 32, 3]);
  expect(input).toHaveLength(reference.values.length);
  const worst = Math.max(...input.map((v, i) => Math.abs(v - reference.values[i])));
  test
    .info()
    .annotations.push({ type: "max abs diff (page vs Python reference)", description: String(worst) });
  expect(worst).toBeLessThanOrEqual(1 / 255);
  // The white background stays white (+1 in [-1, 1]): no inversion, no ink crop (the corner is background).
  expect(input.slice(0, 3)).toEqual([1, 1, 1]);

  // 12 classes: the 5 most probable, largest first, by label, with their probabilities.
  const labels = manifest.labels;
  expect(labels).toHaveLength(12);
  const rows = page.locator("#chart .bar-row");
  await expect(rows).toHaveCount(5);
  const shown = await rows.evaluateAll((elements) =>
    elements.map((row) => ({
      label: row.querySelector(".bar-label").textContent,
      percent: Number.parseFloat(row.querySelector(".bar-value").textContent),
    })),
  );
  const scores = JSON.parse(await page.locator("#result").getAttribute("data-scores"));
  const expected = scores
    .map((p, index) => ({ label: labels[index], p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 5);
  expect(shown.map((row) => row.label)).toEqual(expected.map((row) => row.label));
  shown.forEach((row, i) => expect(Math.abs(row.percent - 100 * expected[i].p)).toBeLessThanOrEqual(0.051));
  await expect(page.locator("#top1-label")).toHaveText(expected[0].label);
  const top1 = Number(await page.locator("#result").getAttribute("data-top1"));
  expect(labels[top1]).toBe(expected[0].label);

  const shot = test.info().outputPath("photo-inference.png");
  await page.screenshot({ path: shot, fullPage: true });
  await test.info().attach("photo-inference", { path: shot, contentType: "image/png" });

  // A prediction without a photo (after Clear) asks for one; the pad's digits path never runs.
  await page.click("#clear-button");
  await page.click("#predict-button");
  await expect(page.locator(".toast").last()).toContainText("Upload a photo first");
});

test("compare view: each variant's memory and load time as the export measured them", async ({ page }) => {
  await openApp(page, "#compare");
  await expect(page.locator("#compare-table thead")).toContainText("Memory");
  await page.click("#compare-run");
  await expect(page.locator("#view-compare")).toHaveAttribute("data-state", "done", { timeout: 30_000 });
  const manifest = await page.evaluate(() => window.edgeship.state.manifest);
  const ids = Object.keys(manifest.variants);
  // The export measured TFLite's memory and load time (exporter: a fresh interpreter process).
  expect(manifest.variants["tflite-fp32"]).toMatchObject({
    peak_memory_bytes: expect.any(Number),
    load_ms: expect.any(Number),
  });
  await expect(page.locator("#compare-table tbody tr")).toHaveCount(ids.length);
  for (const id of ids) {
    const { peak_memory_bytes: peak, load_ms: load } = manifest.variants[id];
    const row = page.locator(`#compare-table tbody tr[data-variant="${id}"]`);
    // "—" where the export measured nothing (null: not measurable for the target; absent: older exports).
    await expect(row.locator("td.memory")).toHaveText(typeof peak === "number" ? formatBytes(peak) : "—");
    const exported = typeof load === "number" ? `export: ${formatMs(load)}` : "";
    await expect(row.locator("td.load")).toHaveText(/^\d+(\.\d+)? ms/);
    expect((await row.locator("td.load").textContent()).endsWith(`ms${exported}`)).toBe(true);
  }
});

test("compare view: an export from before the memory figures shows — for them", async ({
  page,
  photoDir,
}) => {
  const old = await serveCopy(path.join(photoDir, "exports"), "photo-old", (served) => {
    const file = path.join(served, "photo", "manifest.json");
    const manifest = JSON.parse(readFileSync(file, "utf8"));
    for (const spec of Object.values(manifest.variants)) {
      delete spec.peak_memory_bytes;
      delete spec.load_ms;
    }
    writeFileSync(file, JSON.stringify(manifest));
  });
  try {
    await page.goto(`${old.url}#compare`);
    await appReady(page);
    await page.click("#compare-run");
    await expect(page.locator("#view-compare")).toHaveAttribute("data-state", "done", { timeout: 30_000 });
    const memory = page.locator("#compare-table tbody td.memory");
    await expect(memory).toHaveCount(2);
    expect(await memory.allTextContents()).toEqual(["—", "—"]);
    for (const text of await page.locator("#compare-table tbody td.load").allTextContents()) {
      expect(text).toMatch(/^\d+(\.\d+)? ms$/); // the browser's own load time only
    }
  } finally {
    await old.stop();
  }
});
