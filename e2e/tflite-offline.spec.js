// The .tflite runtime (LiteRT.js, threaded in this cross-origin-isolated app) offline for real: a server of
// this test's own is stopped, then its port is taken by a listener that accepts connections and never answers,
// as a phone sees a laptop that left the Wi-Fi. The runtime before it (tfjs-tflite) preloaded its module from
// the engine worker's own folder (a 404 on every load) with a synchronous importScripts, and network-first
// requests had no timeout: there the engine never answered. LiteRT.js's emscripten loader would look in the
// same wrong place for its .wasm and its thread workers (/app/worker/litert_wasm_*) unless told otherwise.
import net from "node:net";
import { appReady, drawSeven, expect, test } from "./fixtures.js";
import { startServer } from "./support/server.js";

// Anything the app must not ask for: LiteRT.js's files outside /vendor/litert/, and the old runtime.
const WRONG_PATH = /\/app\/worker\/(litert|tflite)_|\/vendor\/tflite\/|tf-tflite/;
const LITERT_FILE = /\/vendor\/litert\/litert_wasm_threaded_internal\.(js|wasm)$/;

/** Selects a .tflite variant (it has no backend choice) and waits for the prediction. */
async function predictTflite(page, variant) {
  await page.selectOption("#variant-select", variant);
  await page.click("#predict-button");
  const result = page.locator("#result");
  await expect(result).toHaveAttribute("data-variant", variant);
  await expect(result).toHaveAttribute("data-state", "done");
  return result.evaluate((node) => ({
    top1: Number(node.dataset.top1),
    scores: JSON.parse(node.dataset.scores),
  }));
}

/** A page of the app, opened as from the home screen, with a "7" drawn. */
async function openDrawn(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await appReady(page);
  await drawSeven(page);
  return page;
}

/** Listens on `port` and never answers: connections hang, as to a host that is gone without refusing. */
async function blackhole(port) {
  const sockets = new Set();
  const listener = net.createServer((socket) => sockets.add(socket));
  await new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(port, "127.0.0.1", resolve);
  });
  return {
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => listener.close(resolve));
    },
  };
}

test("tflite variants predict with the server gone, refused or silent, and nothing asks for a wrong path", async ({
  browser,
  exportsDir,
}) => {
  test.setTimeout(60_000);
  const server = await startServer(exportsDir);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const wrong = [];
  const failedOnline = [];
  let online = true;
  context.on("request", (request) => WRONG_PATH.test(request.url()) && wrong.push(request.url()));
  context.on("response", (response) => {
    if (online && response.status() >= 400) failedOnline.push(`${response.status()} ${response.url()}`);
  });
  let silent = null;
  try {
    const expected = await test.step("online: both tflite variants predict", async () => {
      const page = await openDrawn(context, server.url);
      await page.evaluate(() => window.edgeship.controlled());
      await expect.poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
      expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
      return {
        fp32: await predictTflite(page, "tflite-fp32"),
        int8: await predictTflite(page, "tflite-int8"),
      };
    });
    expect(expected.int8.top1).toBe(7);
    expect(failedOnline).toEqual([]);

    online = false;
    await server.stop();
    await test.step("server stopped (connections refused): a new page predicts", async () => {
      const page = await openDrawn(context, server.url);
      expect(await predictTflite(page, "tflite-int8")).toEqual(expected.int8);
    });
    await test.step("server silent (connections never answered): a new page predicts", async () => {
      silent = await blackhole(Number(new URL(server.url).port));
      const page = await openDrawn(context, server.url);
      expect(await predictTflite(page, "tflite-fp32")).toEqual(expected.fp32);
      expect(await predictTflite(page, "tflite-int8")).toEqual(expected.int8);
    });
    expect(wrong).toEqual([]);
  } finally {
    await context.close();
    if (silent) await silent.close();
    await server.stop();
  }
});

test("a .tflite variant predicts offline: LiteRT.js and the file come from the precache", async ({
  browser,
  exportsDir,
}) => {
  test.setTimeout(60_000);
  const server = await startServer(exportsDir);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const litert = [];
  const wrong = [];
  context.on("request", (request) => WRONG_PATH.test(request.url()) && wrong.push(request.url()));
  context.on("response", (response) => {
    if (LITERT_FILE.test(response.url()))
      litert.push({ url: response.url(), sw: response.fromServiceWorker() });
  });
  try {
    // The first visit is not controlled yet: its warm-up (the default tflite-fp32 on LiteRT.js) fetches from
    // the server, and the service worker's install fetches everything for its precache.
    await test.step("online: the service worker installs", async () => {
      const page = await openDrawn(context, server.url);
      await page.evaluate(() => window.edgeship.controlled());
      await expect.poll(() => page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
      await page.close();
    });
    expect(litert.filter((entry) => entry.sw)).toEqual([]);
    await server.stop();
    await test.step("offline: tflite-int8 predicts a 7, LiteRT.js's threaded build from the cache", async () => {
      const page = await openDrawn(context, server.url);
      expect((await predictTflite(page, "tflite-int8")).top1).toBe(7);
      // tflite-int8, and the warm-up's tflite-fp32 (the default variant)
      expect(await page.evaluate(() => window.edgeship.engine.memory())).toMatchObject({ litertLive: 2 });
    });
    const served = litert.filter((entry) => entry.sw).map((entry) => new URL(entry.url).pathname);
    expect(served).toEqual(
      expect.arrayContaining([
        "/vendor/litert/litert_wasm_threaded_internal.js",
        "/vendor/litert/litert_wasm_threaded_internal.wasm",
      ]),
    );
    expect(wrong).toEqual([]);
  } finally {
    await context.close();
    await server.stop();
  }
});
