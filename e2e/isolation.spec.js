// Cross-origin isolation (COOP + COEP) and WebAssembly threads in both runtimes.
import { expect, openApp, test } from "./fixtures.js";

test("the page is cross-origin isolated and both wasm runtimes use threads", async ({ page }) => {
  const env = await openApp(page);
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
  expect(env.crossOriginIsolated).toBe(true); // in the engine worker too
  expect(env.wasmThreads).toBe(true); // tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")
  // ...and the threaded-SIMD binary really started: it needs its pthread workers, which load from blob:
  // URLs (without them the backend never starts and wasmError says so). XNNPACK's thread count is tfjs's
  // choice (half the logical cores: 1 on a 2-core machine).
  expect(env.wasmError).toBeNull();
  expect(env.wasmThreadCount).toBeGreaterThanOrEqual(1);
  expect(env.tflite).toEqual({ simd: true, multiThreading: true });
  await expect(page.locator("#env-info")).toContainText("cross-origin isolated · tfjs wasm");
});
