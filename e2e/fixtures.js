// Shared fixtures: one server per test worker over the export built in global-setup, and helpers that drive
// the app the way a user does.
import { test as base, expect } from "@playwright/test";
import { startServer } from "./support/server.js";
import { startStaticSite } from "./support/static-site.js";

export { drawSeven } from "./support/draw.js";

export const test = base.extend({
  exportsDir: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const dir = process.env.EDGESHIP_E2E_EXPORTS;
      if (!dir) throw new Error("EDGESHIP_E2E_EXPORTS is not set: run through `npx playwright test`");
      await use(dir);
    },
    { scope: "worker" },
  ],
  // "flask": `edgeship serve`; "static": `edgeship build-site` served by nginx (the static-site project).
  hosting: ["flask", { option: true, scope: "worker" }],
  server: [
    async ({ exportsDir, hosting }, use) => {
      const server = hosting === "static" ? await startStaticSite(exportsDir) : await startServer(exportsDir);
      await use(server);
      await server.stop();
    },
    { scope: "worker" },
  ],
  baseURL: async ({ server }, use) => use(server.url),
  page: async ({ page }, use, testInfo) => {
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await use(page);
    if (errors.length)
      await testInfo.attach("page-errors", { body: errors.join("\n"), contentType: "text/plain" });
  },
});

export { expect };

/** Waits until the page's app has listed the models and started the engine (after goto, reload). */
export async function appReady(page) {
  await page.waitForFunction(() => window.edgeship && window.edgeship.ready);
  return page.evaluate(() => window.edgeship.ready);
}

/** Opens the app (of the shared server) and waits until it is ready. */
export async function openApp(page, hash = "") {
  await page.goto(`/${hash}`);
  return appReady(page);
}

/** Waits until a service worker controls the page (after the first install it claims the page). */
export async function waitForController(page) {
  await page.evaluate(() => window.edgeship.controlled());
  await expect.poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
}

/** Selects a variant and backend in the inference view and waits for the prediction. */
export async function predictWith(page, variant, backend = "wasm") {
  // The variant first: the backend picker offers what the variant's runtime runs on.
  await page.selectOption("#variant-select", variant);
  await page.selectOption("#backend-select", backend);
  await page.click("#predict-button");
  await expect(page.locator("#result")).toHaveAttribute("data-variant", variant);
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
  // Picking the variant ran it on the backend picked before: wait for the run on this one.
  if (backend !== "auto") await expect(page.locator("#result")).toHaveAttribute("data-backend", backend);
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
  return page.evaluate(() => ({
    top1: Number(document.querySelector("#result").dataset.top1),
    scores: JSON.parse(document.querySelector("#result").dataset.scores),
    backend: document.querySelector("#result").dataset.backend,
  }));
}
