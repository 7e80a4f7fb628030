// Cross-origin isolation (COOP + COEP) and WebAssembly threads in both runtimes.
import { drawSeven, expect, openApp, predictWith, test } from "./fixtures.js";

test("the page is cross-origin isolated and both wasm runtimes use threads", async ({ page }) => {
  const first = await openApp(page);
  expect(first.crossOriginIsolated).toBe(true); // in the engine worker too
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
  // The default variant runs on LiteRT.js: tfjs is not even loaded until a tfjs variant needs it.
  expect(first.wasmThreadCount).toBeNull();
  await expect(page.locator("#env-info")).toContainText("tfjs wasm not started");
  await drawSeven(page);
  await predictWith(page, "tfjs-fp32", "wasm");
  const env = await page.evaluate(() => window.edgeship.showEnvironment());
  expect(env.wasmThreads).toBe(true); // tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")
  // ...and the threaded-SIMD binary really started: it needs its pthread workers, which load from blob:
  // URLs (without them the backend never starts and wasmError says so). XNNPACK's thread count is tfjs's
  // choice (half the logical cores: 1 on a 2-core machine).
  expect(env.wasmError).toBeNull();
  expect(env.wasmThreadCount).toBeGreaterThanOrEqual(1);
  expect(env.tflite).toEqual({ simd: true, multiThreading: true });
  expect(env.litert).toMatchObject({ relaxedSimd: true, threads: true });
  await expect(page.locator("#env-info")).toContainText("cross-origin isolated · tfjs wasm threads on");
  await expect(page.locator("#env-info")).toContainText("LiteRT.js threads + relaxed SIMD");
});
