// The engine worker starts with the page's first script (app/ui/engine-start.js), before the views' modules
// load: the page must connect to it however late its own modules arrive.
import { expect, openApp, test } from "./fixtures.js";

test("a page whose modules load after the engine is ready still connects and predicts", async ({ page }) => {
  // main.js held back until the worker has long loaded its modules and said "ready" (to no listener yet).
  await page.route("**/app/ui/main.js", async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await route.continue();
  });
  const env = await openApp(page);
  expect(env.crossOriginIsolated).toBe(true);
  await page.evaluate(() => window.edgeship.predict());
  // The default variant, warmed up while main.js was held back.
  await expect(page.locator("#result")).toHaveAttribute("data-variant", "tflite-fp32");
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
});
