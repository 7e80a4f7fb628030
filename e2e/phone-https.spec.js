// The app on a phone over HTTPS (issue 15): a real `edgeship serve DIR --lan --name phone.test`, its CA made
// in a config folder of this test's own, and Chromium emulating a Pixel 7 that maps phone.test to loopback
// (--host-resolver-rules) and trusts that CA, as a phone does once the user installs it from /connect:
// with certutil (Debian's libnss3-tools) the CA goes into the NSS database of a HOME of this test's own,
// else Chromium is told to ignore certificate errors. A persistent context: Chrome's installability check
// always fails in an incognito-like one.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, devices } from "@playwright/test";
import { CHROMIUM_ARGS } from "../playwright.config.js";
import { appReady, drawSeven, expect, predictWith, test } from "./fixtures.js";
import { EDGESHIP, ROOT } from "./support/server.js";

const PHONE = { ...devices["Pixel 7"] };
delete PHONE.defaultBrowserType;

/** `edgeship serve DIR --lan --name phone.test --port 0`; resolves once it printed its CA line. */
async function serveLan(directory, config) {
  const child = spawn(EDGESHIP, ["serve", directory, "--lan", "--name", "phone.test", "--port", "0"], {
    cwd: ROOT,
    env: { ...process.env, XDG_CONFIG_HOME: config },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`edgeship serve --lan did not start:\n${output}`)),
      30_000,
    );
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const serving = output.match(/^Serving .* on https:\/\/\S+:(\d+)\/ \(Ctrl\+C to stop\)$/m);
      if (serving && /^Certificate authority: /m.test(output)) {
        clearTimeout(timer);
        resolve(Number(serving[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`edgeship serve --lan exited with ${code}:\n${output}`)));
  });
  return {
    port,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return; // stopped already
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Trusts the CA in an NSS database under `home` when certutil is there; the Chromium flags either way. */
function trust(caFile, home) {
  const args = [...CHROMIUM_ARGS, "--host-resolver-rules=MAP phone.test 127.0.0.1"];
  if (spawnSync("certutil", ["--help"]).error)
    return { args: [...args, "--ignore-certificate-errors"], how: "ignored" };
  const db = path.join(home, ".pki", "nssdb");
  mkdirSync(db, { recursive: true });
  for (const command of [
    ["-N", "-d", `sql:${db}`, "--empty-password"],
    ["-A", "-d", `sql:${db}`, "-n", "edgeship local CA", "-t", "C,,", "-i", caFile],
  ]) {
    const done = spawnSync("certutil", command, { encoding: "utf8" });
    if (done.status !== 0) throw new Error(`certutil ${command.join(" ")}: ${done.stderr}`);
  }
  return { args, how: "nss" };
}

test("over https://phone.test the app is controlled, isolated, installable, and predicts offline", async ({
  exportsDir,
}, testInfo) => {
  test.setTimeout(60_000);
  const scratch = mkdtempSync(path.join(tmpdir(), "edgeship-phone-https-"));
  const server = await serveLan(exportsDir, path.join(scratch, "config"));
  const home = path.join(scratch, "home");
  const chrome = trust(path.join(scratch, "config", "edgeship", "ca.pem"), home);
  testInfo.annotations.push({ type: "certificate", description: chrome.how });
  const context = await chromium.launchPersistentContext(path.join(scratch, "profile"), {
    ...PHONE,
    executablePath: "/usr/bin/chromium",
    args: chrome.args,
    env: { ...process.env, HOME: home },
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const url = `https://phone.test:${server.port}/`;
    await test.step("secure, isolated, controlled, installable", async () => {
      await page.goto(url);
      await appReady(page);
      const secure = await page.evaluate(() => [window.isSecureContext, window.crossOriginIsolated]);
      expect(secure).toEqual([true, true]);
      await page.evaluate(() => window.edgeship.controlled());
      await expect.poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
      const cdp = await context.newCDPSession(page);
      // Chrome installs only from an origin whose certificate it trusts: past an ignored certificate error
      // the one complaint left is that (make browsers installs certutil, so the CA is trusted for real).
      const expected =
        chrome.how === "nss" ? [] : [{ errorId: "not-from-secure-origin", errorArguments: [] }];
      await expect
        .poll(async () => (await cdp.send("Page.getInstallabilityErrors")).installabilityErrors, {
          timeout: 20_000,
        })
        .toEqual(expected);
    });
    await test.step("/connect opens as itself, not the app shell, with the worker in control", async () => {
      await page.goto(`${url}connect`);
      await expect(page.locator("h1")).toHaveText("Open edgeship on your phone");
      await expect(page.locator("#connect-ca")).toHaveAttribute("href", "/connect/edgeship-ca.crt");
      const qr = page.locator("#connect-qr");
      await expect.poll(() => qr.evaluate((img) => img.complete && img.naturalWidth > 0)).toBe(true);
      const shot = testInfo.outputPath("phone-https-connect.png");
      await page.screenshot({ path: shot, fullPage: true });
      await testInfo.attach("phone-https-connect", { path: shot, contentType: "image/png" });
    });
    const online = await test.step("a prediction runs", async () => {
      await page.goto(url);
      await appReady(page);
      await drawSeven(page);
      // tfjs, not a .tflite variant: tfjs-tflite's threaded runtime asks for
      // /app/worker/tflite_web_api_cc_simd_threaded.js (a 404 online), and with the server gone a .tflite
      // prediction did not finish (see issue 15's report); this test is about serving, not that runtime.
      return predictWith(page, "tfjs-fp32", "wasm");
    });
    expect(online.top1).toBe(7);
    await test.step("offline for real (the server is gone too), the app opens again and predicts", async () => {
      await server.stop();
      await context.setOffline(true);
      // A new tab, as the app opened again from the home screen: a page reloaded in place here would get a
      // fresh renderer that Playwright's offline emulation misses (navigator.onLine true again).
      const offline = await context.newPage();
      await offline.goto(url);
      await appReady(offline);
      expect(await offline.evaluate(() => navigator.onLine)).toBe(false);
      await expect(offline.locator("#offline-badge")).toBeVisible();
      await drawSeven(offline);
      expect(await predictWith(offline, "tfjs-fp32", "wasm")).toEqual(online);
      const shot = testInfo.outputPath("phone-https-offline.png");
      await offline.screenshot({ path: shot, fullPage: true });
      await testInfo.attach("phone-https-offline", { path: shot, contentType: "image/png" });
    });
  } finally {
    await context.close();
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
});
