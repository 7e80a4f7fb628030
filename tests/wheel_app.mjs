// Drive the app a served `edgeship serve` answers the way a user does, in Chromium: for tests/test_wheel.py,
// which serves it from an installed wheel. Opens the app, waits until the service worker controls the page,
// draws a "7" and predicts with tfjs (wasm backend) and tfjs-tflite, then does it again offline.
//
// usage: node tests/wheel_app.mjs URL
// stdout: {"status": {"/sw.js": 200, ...}, "controlled": true, "online": {...}, "offline": {...}}, where
//   online/offline map a variant to {top1, scores, backend} (or {error} when it did not predict).
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../playwright.config.js";
import { drawSeven } from "../e2e/support/draw.js";

const PREDICTIONS = [
  ["tfjs-fp32", "wasm"],
  ["tflite-int8", null],
];
const TIMEOUT = 60_000;

async function predict(page, variant, backend) {
  if (backend) await page.selectOption("#backend-select", backend);
  await page.selectOption("#variant-select", variant);
  await page.click("#predict-button");
  await page.waitForFunction(
    (id) => {
      const result = document.querySelector("#result");
      return result.dataset.variant === id && ["done", "error"].includes(result.dataset.state);
    },
    variant,
    { timeout: TIMEOUT },
  );
  return page.evaluate(() => {
    const { state, top1, scores, backend } = document.querySelector("#result").dataset;
    if (state !== "done") return { error: document.querySelector("#result").textContent };
    return { top1: Number(top1), scores: JSON.parse(scores), backend };
  });
}

async function openAndPredict(page) {
  await page.waitForFunction(() => window.edgeship && window.edgeship.ready, null, { timeout: TIMEOUT });
  await page.evaluate(() => window.edgeship.ready);
  await drawSeven(page);
  const predictions = {};
  for (const [variant, backend] of PREDICTIONS) predictions[variant] = await predict(page, variant, backend);
  return predictions;
}

async function main() {
  const url = process.argv[2];
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const status = {};
    for (const file of ["sw.js", "vendor/tf.min.js", "vendor/tfjs-backend-wasm-simd.wasm"]) {
      status[`/${file}`] = (await context.request.get(url + file)).status();
    }
    const page = await context.newPage();
    await page.goto(url);
    const online = await openAndPredict(page);
    await page.evaluate(() => window.edgeship.controlled());
    const controlled = await page.evaluate(() => Boolean(navigator.serviceWorker.controller));
    await context.setOffline(true);
    await page.reload();
    const offline = await openAndPredict(page);
    process.stdout.write(JSON.stringify({ status, controlled, online, offline }));
  } finally {
    await browser.close();
  }
}

await main();
