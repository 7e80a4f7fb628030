// Memory: every tensor is owned; 100 predictions leave tf.memory().numTensors where it was, and unloading
// a model frees it (tfjs and LiteRT.js).
import { drawSeven, expect, openApp, predictWith, test } from "./fixtures.js";

for (const [variant, backend] of [
  ["tfjs-fp32", "wasm"],
  ["tfjs-fp32", "webgl"],
  ["tflite-int8", "wasm"],
]) {
  test(`100 predictions with ${variant} (${backend}) leak no tensors`, async ({ page }) => {
    await openApp(page);
    await drawSeven(page);
    await predictWith(page, variant, backend); // loads the model: its weights are the baseline
    const before = await page.evaluate(() => window.edgeship.engine.memory());
    const tops = await page.evaluate(async () => {
      const seen = new Set();
      for (let i = 0; i < 100; i += 1) seen.add((await window.edgeship.predict()).top1);
      return [...seen];
    });
    const after = await page.evaluate(() => window.edgeship.engine.memory());
    expect(tops).toHaveLength(1);
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    // LiteRT.js: every input and output tensor deleted, and the wasm heap no bigger.
    expect(after.litertLive).toBe(before.litertLive);
    expect(after.litertHeapBytes).toBe(before.litertHeapBytes);
  });
}

// Unloading frees: 20 load/predict/unload cycles. LiteRT.js: every model and tensor is deleted (litertLive
// back to 0) and the wasm heap, which grows but never shrinks, stays at its size after the first cycle. The
// same measurement over cycles that drop the model without deleting it (the engine's debugLeak) must see it.
async function cycles(page, { variant, backend, count, debugLeak = false }) {
  return page.evaluate(
    async ({ variant, backend, count, debugLeak }) => {
      const { engine, state } = window.edgeship;
      const modelId = state.modelId;
      const per = state.manifest.input.shape.slice(1).reduce((a, b) => a * b, 1);
      const input = new Float32Array(per).fill(0.5);
      const seen = [];
      for (let i = 0; i < count; i += 1) {
        await engine.load({ modelId, variant, backend });
        await engine.predict({ modelId, variant, backend, input });
        await engine.unload({ modelId, variant, debugLeak });
        seen.push(await engine.memory());
      }
      return seen;
    },
    { variant, backend, count, debugLeak },
  );
}

test("20 load/unload cycles of a .tflite variant on LiteRT.js free it all, and a leak would show", async ({
  page,
}) => {
  await openApp(page);
  // The warm-up loaded the default variant (tflite-fp32): free every model first, so nothing counts but ours.
  await page.evaluate(() => window.edgeship.engine.unload({}));
  expect((await page.evaluate(() => window.edgeship.engine.memory())).litertLive).toBe(0);
  const freed = await cycles(page, { variant: "tflite-int8", backend: "wasm", count: 20 });
  const first = freed[0];
  expect(first.litertHeapBytes).toBeGreaterThan(0); // LiteRT.js really ran
  for (const [i, after] of freed.entries()) {
    expect(after.litertLive, `cycle ${i + 1}: models and tensors alive`).toBe(0);
    expect(after.litertHeapBytes, `cycle ${i + 1}: wasm heap`).toBe(first.litertHeapBytes);
  }
  // The control: the same cycles without deleting the model. Every one leaves a live model, and the heap
  // grows (each cycle copies the file into the heap and compiles it: ~100 KB here, more than the free room
  // that 20 freed cycles left over within a few dozen cycles).
  const leaked = await cycles(page, { variant: "tflite-fp32", backend: "wasm", count: 60, debugLeak: true });
  expect(leaked.map((m) => m.litertLive)).toEqual(leaked.map((_, i) => i + 1));
  expect(leaked[leaked.length - 1].litertHeapBytes).toBeGreaterThan(first.litertHeapBytes);
});

test("20 load/unload cycles of a tfjs variant bring tf.memory() back to its baseline", async ({ page }) => {
  await openApp(page);
  const [first, ...rest] = await cycles(page, { variant: "tfjs-fp32", backend: "wasm", count: 20 });
  for (const [i, after] of rest.entries()) {
    expect(after.numTensors, `cycle ${i + 2}: tensors`).toBe(first.numTensors);
    expect(after.numBytes, `cycle ${i + 2}: bytes`).toBe(first.numBytes);
  }
  // Unloaded, the model holds nothing: the baseline is what tfjs keeps without any model.
  expect(first.numTensors).toBe(0);
});
