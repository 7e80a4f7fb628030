// Storage quota: a real quota limit (Chromium's own, lowered through CDP) that the service worker's cache
// writes hit. The app says once what was not saved for offline use and keeps predicting from the network.
import { cpSync } from "node:fs";
import path from "node:path";
import { serveCopy } from "./support/server.js";
import { appReady, drawSeven, expect, predictWith, test, waitForController } from "./fixtures.js";

const QUOTA_BYTES = 1_000_000; // the app shell and runtimes alone are ~20 MB

// The notice's text as shown: the message, then its Dismiss button (×).
const storageFull = (what) =>
  `Offline storage is full: ${what} was not saved for offline use; ` +
  "free space in the browser's site settings, then reload. The app keeps working online.×";

async function limitQuota(page, url) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(url).origin, quotaSize: QUOTA_BYTES });
}

async function predictsSeven(page) {
  await drawSeven(page);
  expect((await predictWith(page, "tfjs-fp32", "wasm")).top1).toBe(7);
  expect((await predictWith(page, "tflite-int8")).top1).toBe(7);
}

test("an install that hits the quota says so, leaves nothing behind, and the app still predicts", async ({
  page,
  server,
}) => {
  await limitQuota(page, server.url);
  await page.goto(server.url);
  await appReady(page);
  const notice = page.locator('#toasts [data-kind="storage-full"]');
  await expect(notice).toHaveText(storageFull("the app"));
  await expect(page.locator("#toasts [role=alert]")).toHaveCount(0);
  // The failed install freed what it had written, and no worker took over.
  expect(await page.evaluate(() => caches.keys())).toEqual([]);
  expect(await page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(false);
  await predictsSeven(page);
});

test("a full cache while the app runs: responses still arrive, the page says once what was not saved", async ({
  page,
  exportsDir,
}) => {
  // A second model, which the install does not precache: its files are cached on first use.
  const server = await serveCopy(exportsDir, "quota", (served) =>
    cpSync(path.join(served, "demo"), path.join(served, "digits"), { recursive: true }),
  );
  try {
    await page.goto(server.url);
    await appReady(page);
    await waitForController(page);

    await limitQuota(page, server.url); // now far below what the caches hold
    await page.reload();
    await appReady(page);
    const notice = page.locator('#toasts [data-kind="storage-full"]');
    await expect(notice).toHaveText(storageFull("the model list"));

    await page.selectOption("#model-select", "digits");
    await expect.poll(() => page.evaluate(() => window.edgeship.state.modelId)).toBe("digits");
    await predictsSeven(page);
    await expect(notice).toHaveText(storageFull("model digits"));
    await expect(notice).toHaveCount(1);
    await expect(page.locator("#toasts [role=alert]")).toHaveCount(0);
    // Nothing of the new model reached the cache, yet it ran: every response came from the network.
    const cached = await page.evaluate(async () =>
      (await (await caches.open("edgeship-runtime-v1")).keys()).filter((r) => r.url.includes("/digits/")),
    );
    expect(cached).toEqual([]);
  } finally {
    await server.stop();
  }
});
