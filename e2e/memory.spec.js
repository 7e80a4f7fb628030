// Memory: every tensor is owned; 100 predictions leave tf.memory().numTensors where it was.
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
  });
}
