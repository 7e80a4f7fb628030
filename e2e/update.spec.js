// Updates: when the served export is replaced, /sw.js changes; the app shows "Update available" and switches
// only when the user accepts; then the new version runs and the old caches are gone.
import { cpSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { serveCopy } from "./support/server.js";
import { appReady, drawSeven, expect, predictWith, test, waitForController } from "./fixtures.js";

const NEW_CREATED = "2030-01-02T03:04:05+00:00";

test("a replaced export shows Update available and runs after the user accepts", async ({
  page,
  exportsDir,
}) => {
  const server = await serveCopy(exportsDir, "update");
  const { dir, served } = server;
  try {
    await page.goto(server.url);
    await appReady(page);
    await waitForController(page);
    const before = await page.locator("#model-info").getAttribute("data-created");
    expect(before).not.toBe(NEW_CREATED);

    // Re-export: a new folder renamed into place (the way `edgeship export` replaces one).
    const next = path.join(dir, "next");
    cpSync(path.join(served, "demo"), next, { recursive: true });
    const manifestPath = path.join(next, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    manifest.created = NEW_CREATED;
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    renameSync(path.join(served, "demo"), path.join(dir, "old"));
    renameSync(next, path.join(served, "demo"));

    await page.evaluate(() => window.edgeship.checkForUpdate());
    await expect(page.locator("#update-banner")).toBeVisible();
    // Nothing switches behind the user's back: the old version still runs until they accept.
    await expect(page.locator("#model-info")).toHaveAttribute("data-created", before);
    await page.screenshot({ path: test.info().outputPath("update-available.png") });

    await Promise.all([page.waitForEvent("load"), page.click("#update-accept")]);
    await appReady(page);
    await expect(page.locator("#model-info")).toHaveAttribute("data-created", NEW_CREATED);
    await expect(page.locator("#update-banner")).toBeHidden();
    await drawSeven(page);
    const result = await predictWith(page, "tfjs-fp32", "wasm");
    expect(result.scores).toHaveLength(10);
    const precaches = await page.evaluate(async () =>
      (await caches.keys()).filter((name) => name.startsWith("edgeship-precache-")),
    );
    expect(precaches).toHaveLength(1);
  } finally {
    await server.stop();
  }
});
