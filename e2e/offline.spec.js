// Offline: after one online visit the app opens and predicts with the network off, with the same outputs.
import { drawSeven, expect, openApp, predictWith, test, waitForController } from "./fixtures.js";

test("after one online visit the app opens and predicts offline", async ({ page, context }) => {
  await openApp(page);
  await waitForController(page);
  await drawSeven(page);
  const online = {
    tfjs: await predictWith(page, "tfjs-fp32", "wasm"),
    tflite: await predictWith(page, "tflite-int8"),
  };
  await expect(page.locator("#offline-badge")).toBeHidden();

  await context.setOffline(true);
  await page.reload();
  await openApp(page);
  await expect(page.locator("#offline-badge")).toBeVisible();
  await drawSeven(page);
  const offline = {
    tfjs: await predictWith(page, "tfjs-fp32", "wasm"),
    tflite: await predictWith(page, "tflite-int8"),
  };
  expect(offline).toEqual(online);
  await context.setOffline(false);
});
