// Integrity: the app checks each file against the sha256 its manifest lists before a runtime sees it. A
// served export with one TFJS shard and one .tflite file altered (the manifest left as it was) gets those
// variants refused with one clear message and no prediction (and dropped from the service worker's cache),
// while its other variants keep working.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { serveCopy } from "./support/server.js";
import { appReady, drawSeven, expect, predictWith, test, waitForController } from "./fixtures.js";

const refused = (file) =>
  `${file} failed its integrity check (sha256 differs from the manifest): ` +
  "the file was altered or damaged in transit; reload, or re-export the model";

/** Flips one byte in the middle: same size, other sha256. */
function tamper(file) {
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);
}

test("a tampered shard or .tflite file is refused with a clear message; other variants still run", async ({
  page,
  exportsDir,
}) => {
  const manifest = JSON.parse(readFileSync(path.join(exportsDir, "demo/manifest.json"), "utf8"));
  const shard = manifest.variants["tfjs-int8"].files.find((file) => file.path.endsWith(".bin")).path;
  const tflite = manifest.variants["tflite-fp16"].browser.entry; // the file the app runs (LiteRT.js)
  const server = await serveCopy(exportsDir, "integrity", (served) => {
    tamper(path.join(served, "demo", shard));
    tamper(path.join(served, "demo", tflite));
  });
  try {
    await page.goto(server.url);
    await appReady(page);
    await waitForController(page); // the install precached the altered files as they were served
    const cached = (file) =>
      page.evaluate(
        async (url) => Boolean(await caches.match(url, { ignoreSearch: true })),
        `${server.url}models/demo/${file}`,
      );
    expect(await cached(shard)).toBe(true);
    await drawSeven(page); // predicts with the default variant (tfjs-fp32, backend "auto")
    await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
    await expect(page.locator("#top1-label")).toHaveText("7");

    const result = page.locator("#result");
    const errors = page.locator("#toasts [role=alert]"); // each: the message, then its Dismiss button (×)
    // Picking a variant re-runs the drawing on it: "auto" tries each backend, the refusal is named as is.
    await page.selectOption("#variant-select", "tfjs-int8");
    await expect(errors).toHaveText([`${refused(shard)}×`]);
    await expect(result).toHaveAttribute("data-state", "error");
    await expect(result).toHaveAttribute("data-variant", "tfjs-int8");
    await expect(result).not.toHaveAttribute("data-scores");
    await expect(page.locator("#top1-label")).toHaveText("–");
    expect(await cached(shard)).toBe(false); // refused copies leave the cache: a reload fetches again

    await page.selectOption("#variant-select", "tflite-fp16");
    await expect(errors).toHaveText([`${refused(shard)}×`, `${refused(tflite)}×`]);
    await expect(result).toHaveAttribute("data-state", "error");
    await expect(result).toHaveAttribute("data-variant", "tflite-fp16");
    await expect(page.locator("#top1-label")).toHaveText("–");
    await page.screenshot({ path: test.info().outputPath("integrity-refused.png") });

    // The same app, the untampered variants: they load and predict as before.
    await page.selectOption("#variant-select", "tfjs-fp16");
    await expect(result).toHaveAttribute("data-variant", "tfjs-fp16");
    await expect(result).toHaveAttribute("data-state", "done");
    await expect(page.locator("#top1-label")).toHaveText("7");
    expect((await predictWith(page, "tflite-int8", "wasm")).top1).toBe(7);
    await expect(errors).toHaveCount(2);
  } finally {
    await server.stop();
  }
});
