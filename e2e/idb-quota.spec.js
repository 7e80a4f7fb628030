// IndexedDB and a full storage quota: a real limit (Chromium's own, lowered through CDP once the service
// worker has cached the app) that the app's IndexedDB writes hit. A fine-tuned model that cannot be saved
// is kept usable in the tab and says so; "Save again" saves it once there is space. A conversion that
// cannot be queued says so and queues nothing when offline, and is sent at once, kept in the tab only, when
// online.
//
// Chromium's IndexedDB asks the quota manager for the space left only when a write needs more than it was
// last told, and trusts that answer, decaying, for 30 s (BucketContext::kBucketSpaceCacheTimeLimit): the
// quota must drop before the test's first write (each test has a fresh browser context), or the answer
// that write got (gigabytes) would let the next writes through.
import { readFileSync } from "node:fs";
import path from "node:path";
import { finetunedVariant } from "../webapp/static/app/shared/finetuned-id.js";
import { appReady, drawSeven, expect, openApp, predictWith, test, waitForController } from "./fixtures.js";
import { shiftedDigits } from "./support/digits.js";
import { addSamples, train } from "./support/finetune.js";
import { serveCopy } from "./support/server.js";

// The user-facing text of storageError() (app/shared/idb.js) for `what`.
const noSpace = (what) =>
  `not enough storage space in this browser to ${what}: delete saved models you no longer need, ` +
  "or free space on the device, and try again";

/** A few samples (the first of the inverted digits): enough to train on, quick to train. */
function fewSamples(exportsDir, count = 24) {
  const { train: all } = shiftedDigits(path.join(exportsDir, "demo"));
  return {
    inputs: all.inputs.slice(0, count),
    labels: all.labels.slice(0, count),
    pngs: all.pngs.slice(0, count),
  };
}

/** The float32 weights of the demo model: a fine-tuned model's record, or its upload, holds them and more. */
function weightBytes(exportsDir) {
  const manifest = JSON.parse(readFileSync(path.join(exportsDir, "demo", "manifest.json"), "utf8"));
  return manifest.variants["tfjs-fp32"].bytes;
}

/** Sets the origin's quota to what it uses now plus `room` bytes; returns `lift()`, which clears it. */
async function limitQuota(page, room) {
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  const origin = new URL(page.url()).origin;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: usage + Math.floor(room) });
  return () => cdp.send("Storage.overrideQuotaForOrigin", { origin });
}

/** Record counts of the app's IndexedDB stores (app/shared/idb.js), read straight from the database. */
function storedCounts(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const request = indexedDB.open("edgeship");
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const db = request.result;
          const names = [...db.objectStoreNames];
          const tx = db.transaction(names, "readonly");
          const counts = {};
          for (const name of names) {
            const count = tx.objectStore(name).count();
            count.onsuccess = () => (counts[name] = count.result);
          }
          tx.oncomplete = () => {
            db.close();
            resolve(counts);
          };
        };
      }),
  );
}

test("a fine-tuned model the quota refuses is kept usable in the tab, says so, and saves once there is space", async ({
  page,
  exportsDir,
}) => {
  await openApp(page, "#finetune");
  await waitForController(page); // the app's ~20 MB of caches are written before the quota drops
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
  await addSamples(page, fewSamples(exportsDir));
  const lift = await limitQuota(page, weightBytes(exportsDir) / 2); // small writes fit, a model does not

  await page.fill("#ft-epochs", "2");
  await page.selectOption("#ft-backend", "cpu");
  await page.fill("#ft-name", "quota test");
  await page.click("#ft-train-button");
  const view = page.locator("#view-finetune");
  await expect(view).toHaveAttribute("data-state", "unsaved");
  const key = await view.getAttribute("data-key");
  const variant = finetunedVariant(key);

  // One clear message: what happened, why, what to do, and that the model is not lost.
  const alert = page.locator("#toasts [role=alert]");
  await expect(alert).toHaveCount(1);
  await expect(alert).toHaveText(
    `Trained but not saved: ${noSpace('save the model "quota test"')}. ` +
      "Until then the model works in this tab only.×",
  );
  await expect(page.locator("#ft-status")).toHaveText(/^Trained "quota test" but NOT saved: 2 epochs on cpu/);
  await expect(page.locator("#ft-unsaved-text")).toHaveText(
    'Not saved, kept in this tab until it is closed: "quota test". Free some space, then save again.',
  );
  await expect(page.locator("#ft-save-again")).toBeVisible();

  // Nothing half-saved: no row, and neither the summary nor the weights reached IndexedDB.
  await expect(page.locator("#ft-saved-table tbody tr")).toHaveCount(0);
  await expect(page.locator("#ft-saved-empty")).toBeVisible();
  expect(await storedCounts(page)).toEqual({ finetuned: 0, "finetuned-data": 0, outbox: 0 });

  // The app keeps working: the model just trained predicts (from the worker's memory), as does an export.
  await page.click("#tab-infer");
  await expect(page.locator(`#variant-select option[value="${variant}"]`)).toHaveText(
    "quota test (TFJS, fine-tuned here, not saved)",
  );
  await drawSeven(page);
  const kept = await predictWith(page, variant, "cpu");
  expect(kept.scores).toHaveLength(10);
  expect((await predictWith(page, "tfjs-fp32", "wasm")).top1).toBe(7);

  // Space again: "Save again" saves that very model, which survives a reload and predicts the same.
  await lift();
  await page.click("#tab-finetune");
  await page.click("#ft-save-again");
  const row = page.locator(`#ft-saved-table tr[data-key="${key}"]`);
  await expect(row).toHaveAttribute("data-name", "quota test");
  await expect(page.locator("#ft-unsaved")).toBeHidden();
  await expect(page.locator('#toasts [role=status]:has-text("Saved")')).toHaveText('Saved "quota test".×');
  await expect(page.locator(`#variant-select option[value="${variant}"]`)).toHaveText(
    "quota test (TFJS, fine-tuned here)",
  );
  expect(await storedCounts(page)).toEqual({ finetuned: 1, "finetuned-data": 1, outbox: 0 });
  await page.reload();
  await appReady(page);
  await page.click("#tab-infer");
  await drawSeven(page);
  expect((await predictWith(page, variant, "cpu")).scores).toEqual(kept.scores);
});

test("offline, a conversion the quota refuses to queue says so, queues nothing, and the saved model still works", async ({
  page,
  context,
  exportsDir,
}) => {
  await openApp(page, "#finetune");
  await waitForController(page);
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
  await addSamples(page, fewSamples(exportsDir));
  // Room for one model: it is saved, and then its upload (the same weights again) cannot be queued.
  await limitQuota(page, 1.6 * weightBytes(exportsDir));
  const { key } = await train(page, { epochs: 1, learningRate: 0.01, backend: "cpu", name: "to convert" });

  await context.setOffline(true); // were it queued, it would wait here rather than reach the shared server
  await page.locator(`#ft-saved-table tr[data-key="${key}"] button.convert`).click();
  await expect(page.locator("#toasts [role=alert]")).toHaveText(
    `Convert for mobile: ${noSpace("queue the upload")}×`,
  );
  await expect(page.locator("#ft-outbox li")).toHaveCount(0);
  await expect(page.locator("#ft-outbox-empty")).toBeVisible();
  expect(await storedCounts(page)).toEqual({ finetuned: 1, "finetuned-data": 1, outbox: 0 });
  await page.locator(`#ft-saved-table tr[data-key="${key}"] button.use`).click();
  await drawSeven(page);
  expect((await predictWith(page, finetunedVariant(key), "cpu")).scores).toHaveLength(10);
  await context.setOffline(false);
});

test("online, a conversion the quota cannot queue is sent at once, kept in the tab only, and converted", async ({
  page,
  exportsDir,
}) => {
  test.setTimeout(240_000);
  const server = await serveCopy(exportsDir, "quota-convert"); // the conversion adds an export
  try {
    await page.goto(`${server.url}#finetune`);
    await appReady(page);
    await waitForController(page);
    await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
    await addSamples(page, fewSamples(exportsDir));
    await limitQuota(page, 1.6 * weightBytes(exportsDir)); // room to save the model, not to queue it
    const { key } = await train(page, { epochs: 1, learningRate: 0.01, backend: "cpu", name: "sent now" });

    await page.locator(`#ft-saved-table tr[data-key="${key}"] button.convert`).click();
    await expect(page.locator("#toasts [role=status]").last()).toHaveText(
      'No storage space to queue "sent now": it is sent now; keep this tab open until it is converted.×',
    );
    const item = page.locator("#ft-outbox li").first();
    await expect(item).toHaveAttribute("data-in-tab", "true");
    await expect(item).toHaveAttribute("data-state", "done", { timeout: 180_000 });
    const exportId = await item.getAttribute("data-export-id");
    expect(exportId).toMatch(/^demo-ft-\d{14}-[0-9a-f]{6}$/);
    await expect(item.locator('tr[data-variant="tflite-int8"] a[download]')).toHaveAttribute(
      "href",
      new RegExp(`^/models/${exportId}/tflite/.+\\.tflite$`),
    );
    await expect(page.locator(`#model-select option[value="${exportId}"]`)).toHaveCount(1);
    expect(await storedCounts(page)).toEqual({ finetuned: 1, "finetuned-data": 1, outbox: 0 });
  } finally {
    await server.stop();
  }
});
