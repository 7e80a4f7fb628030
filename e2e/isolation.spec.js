// Cross-origin isolation (COOP + COEP) and WebAssembly threads in both runtimes.
import { expect, openApp, test } from "./fixtures.js";

test("the page is cross-origin isolated and both wasm runtimes use threads", async ({ page }) => {
  const env = await openApp(page);
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
  expect(env.crossOriginIsolated).toBe(true); // in the engine worker too
  expect(env.wasmThreads).toBe(true); // tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")
  expect(env.tflite).toEqual({ simd: true, multiThreading: true });
  await expect(page.locator("#env-info")).toContainText("tfjs wasm threads on");
});
