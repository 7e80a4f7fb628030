// Installability as Chrome judges it. A default (incognito-like) context always reports "in-incognito", so
// this test uses a persistent profile.
import { chromium } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CHROMIUM_ARGS } from "../playwright.config.js";
import { expect, test } from "./fixtures.js";

test("Chrome finds the app installable (manifest, icons, service worker)", async ({ server }) => {
  const profile = mkdtempSync(path.join(tmpdir(), "edgeship-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(server.url);
    await page.waitForFunction(() => window.edgeship && window.edgeship.ready);
    await page.evaluate(() => window.edgeship.controlled());
    const cdp = await context.newCDPSession(page);
    const manifest = await cdp.send("Page.getAppManifest");
    expect(manifest.errors).toEqual([]);
    const parsed = JSON.parse(manifest.data);
    expect(parsed.display).toBe("standalone");
    expect(parsed.icons.map((icon) => icon.sizes)).toEqual(expect.arrayContaining(["192x192", "512x512"]));
    await expect
      .poll(async () => (await cdp.send("Page.getInstallabilityErrors")).installabilityErrors, {
        timeout: 20_000,
      })
      .toEqual([]);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
