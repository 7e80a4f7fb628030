// The app on a phone (issue 15), in one Chromium of its own: phone.test resolves to loopback (a page at
// http://phone.test:PORT is not a secure context, like a LAN address over HTTP), and a fake camera plays
// a .y4m written here from a known image. The contexts emulate a Pixel 7 held upright at 360 x 800.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, devices } from "@playwright/test";
import { CHROMIUM_ARGS } from "../playwright.config.js";
import { appReady, expect, test } from "./fixtures.js";
import { startHostProxy } from "./support/host-proxy.js";
import { greyPng } from "./support/png.js";
import { startServer } from "./support/server.js";

const PHONE = { ...devices["Pixel 7"], viewport: { width: 360, height: 800 } };
delete PHONE.defaultBrowserType;

const NOT_SECURE =
  "This page is not a secure context, so the app cannot work offline, install, or run models here. " +
  "Open it over HTTPS: run edgeship serve DIR --lan and open the https:// address it prints, or publish " +
  "with edgeship build-site on an HTTPS host.";

// The known image: a dark "7" on white paper, 64 x 64, only the values 0 and 255 (both survive the
// camera's YUV round trip exactly).
const SIZE = 64;
function seven(x, y) {
  const bar = y >= 10 && y < 19 && x >= 14 && x < 50;
  // The stroke from the bar's right end down to the bottom left: distance to the segment < 4.5 px.
  const [ax, ay, bx, by] = [46, 18, 27, 56];
  const t = Math.max(
    0,
    Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)),
  );
  const stroke = Math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay))) < 4.5;
  return bar || stroke ? 0 : 255;
}

/** The same picture as a one-frame 4:2:0 .y4m (Chromium loops it): grey, so U = V = 128; Y in video range. */
function y4m(width, height, pixel) {
  const luma = Buffer.alloc(width * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) luma[y * width + x] = Math.round(16 + (pixel(x, y) * 219) / 255);
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2), 128);
  return Buffer.concat([
    Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\nFRAME\n`, "ascii"),
    luma,
    chroma,
    chroma,
  ]);
}

let browser;
let scratch;

test.beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), "edgeship-phone-"));
  const video = path.join(scratch, "seven.y4m");
  writeFileSync(video, y4m(SIZE, SIZE, seven));
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      ...CHROMIUM_ARGS,
      "--host-resolver-rules=MAP phone.test 127.0.0.1",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
});

test.afterAll(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A phone context on `url`, collecting page errors and error toasts. */
async function openPhone(url, options = {}) {
  const context = await browser.newContext({ ...PHONE, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  return { context, page, errors };
}

/** A full-page screenshot under test-results/, attached to the test's results. */
async function attachScreenshot(page, name) {
  const file = test.info().outputPath(`${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await test.info().attach(name, { path: file, contentType: "image/png" });
}

/** The controls of the shown view (and the bars around it) that are shorter than a fingertip. */
function smallControls(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("button, select, .button, input[type=text], input[type=number]")]
      .filter(
        (element) => element.getClientRects().length && getComputedStyle(element).visibility !== "hidden",
      )
      .map((element) => ({ element, rect: element.getBoundingClientRect() }))
      .filter(({ rect }) => rect.height < 44)
      .map(
        ({ element, rect }) => `${element.id || element.textContent.trim()}: ${rect.height.toFixed(1)} px`,
      ),
  );
}

test("over http://phone.test (not a secure context): one plain message with the fix, no failing predictions", async ({
  server,
}) => {
  const proxy = await startHostProxy(server.url);
  const { context, page, errors } = await openPhone(`http://phone.test:${proxy.port}/`);
  try {
    await expect(page.locator("html")).toHaveAttribute("data-ready", "insecure");
    expect(await page.evaluate(() => [window.isSecureContext, typeof crypto.subtle])).toEqual([
      false,
      "undefined",
    ]);
    const notice = page.locator("#insecure-notice");
    await expect(notice).toBeVisible();
    expect((await notice.locator("p").first().innerText()).replace(/\s+/g, " ")).toBe(NOT_SECURE);
    // Nothing that would fail is offered: no views, no pad, no predict button; and nothing failed.
    await expect(page.locator("main")).toBeHidden();
    await expect(page.locator(".tabs")).toBeHidden();
    await page.waitForTimeout(500); // anything started at load has had its chance to fail
    await expect(page.locator("[role=alert]:visible")).toHaveCount(1);
    await expect(page.locator(".toast")).toHaveCount(0);
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => document.body.innerText.split("not a secure context").length - 1)).toBe(
      1,
    );
    await attachScreenshot(page, "phone-not-secure");
  } finally {
    await context.close();
    await proxy.stop();
  }
});

/** Draws a "7" with a finger (touch events: the pad must take them as pointer events, not scroll). */
async function touchSeven(page) {
  const box = await page.locator("#draw-canvas").boundingBox();
  const at = ([x, y]) => ({ x: box.x + x * box.width, y: box.y + y * box.height });
  const cdp = await page.context().newCDPSession(page);
  const path = [
    [0.25, 0.2],
    [0.5, 0.2],
    [0.75, 0.2],
    [0.68, 0.35],
    [0.62, 0.5],
    [0.56, 0.65],
    [0.5, 0.8],
  ];
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [at(path[0])] });
  for (const point of path.slice(1)) {
    await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [at(point)] });
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
}

test("at 360 x 800: every view fits the width, its controls are touch-sized; a finger draws; Install when offered", async ({
  server,
}) => {
  const { context, page, errors } = await openPhone(server.url);
  try {
    await appReady(page);
    await page.selectOption("#backend-select", "wasm");
    const scrollY = await page.evaluate(() => window.scrollY);
    await touchSeven(page);
    await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
    await expect(page.locator("#top1-label")).toHaveText("7");
    expect(await page.evaluate(() => window.scrollY)).toBe(scrollY); // the stroke did not scroll the page

    for (const view of ["infer", "compare", "selftest", "finetune"]) {
      await page.locator(`#tab-${view}`).tap();
      await expect(page.locator(`#view-${view}`)).toBeVisible();
      if (view === "finetune") {
        await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
      }
      const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(width[0], `${view}: page wider than the screen`).toBeLessThanOrEqual(width[1]);
      expect(await smallControls(page), `${view}: controls under 44 px`).toEqual([]);
      await attachScreenshot(page, `phone-${view}`);
    }

    // Install: hidden until the browser offers it; the button uses the offer once, then hides.
    const install = page.locator("#install-button");
    await expect(install).toBeHidden();
    await page.evaluate(() => {
      const offer = new Event("beforeinstallprompt", { cancelable: true });
      offer.prompt = async () => {
        window.__prompted = true;
      };
      offer.userChoice = Promise.resolve({ outcome: "accepted" });
      window.dispatchEvent(offer);
      window.__offerPrevented = offer.defaultPrevented;
    });
    await expect(install).toBeVisible();
    expect(await page.evaluate(() => window.__offerPrevented)).toBe(true);
    await install.tap();
    await expect(install).toBeHidden();
    expect(await page.evaluate(() => window.__prompted)).toBe(true);
    await page.evaluate(() => window.dispatchEvent(new Event("beforeinstallprompt")));
    await expect(install).toBeVisible();
    await page.evaluate(() => window.dispatchEvent(new Event("appinstalled")));
    await expect(install).toBeHidden();

    // A camera the user blocked: one plain sentence that says what to do.
    await page.locator("#tab-infer").tap();
    await page.evaluate(() => {
      navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
    });
    await page.locator("#camera-start").tap();
    await expect(page.locator(".toast-error")).toHaveText(
      "camera: The camera is blocked for this page: allow it in the browser's site settings, then try again.×",
    );
    await expect(page.locator("#camera-panel")).toHaveAttribute("data-camera", "off");
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
});

test("camera: a known frame predicts what the same image uploaded predicts; fine-tune samples from the camera", async ({
  server,
}) => {
  const { context, page, errors } = await openPhone(server.url);
  try {
    await appReady(page);
    await page.selectOption("#backend-select", "wasm");
    await page.selectOption("#variant-select", "tfjs-fp32");

    const png = greyPng(SIZE, SIZE, seven);
    await page.setInputFiles("#upload-input", { name: "seven.png", mimeType: "image/png", buffer: png });
    await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
    const uploaded = await page.evaluate(() => ({ ...document.querySelector("#result").dataset }));

    const panel = page.locator("#camera-panel");
    await page.locator("#camera-start").tap();
    await expect(panel).toHaveAttribute("data-camera", "on");
    await expect.poll(() => panel.getAttribute("data-frames").then(Number)).toBeGreaterThan(2);
    const live = await panel.evaluate((element) => ({ ...element.dataset }));
    expect(live.variant).toBe("tfjs-fp32");
    expect(live.backend).toBe("wasm");
    expect(live.top1).toBe(uploaded.top1);
    const [camera, upload] = [JSON.parse(live.scores), JSON.parse(uploaded.scores)];
    const diff = Math.max(...camera.map((score, i) => Math.abs(score - upload[i])));
    expect(diff, "camera vs upload scores").toBeLessThan(1e-6);
    await expect(page.locator("#camera-topk li")).toHaveCount(3);
    await expect(page.locator("#camera-fps")).toContainText(/\d fps/);
    await attachScreenshot(page, "phone-camera");

    // Front/back switch: the camera starts again facing the other way and keeps predicting.
    const before = Number(await panel.getAttribute("data-frames"));
    await page.locator("#camera-flip").tap();
    await expect(panel).toHaveAttribute("data-facing", "user");
    await expect.poll(() => panel.getAttribute("data-frames").then(Number)).toBeGreaterThan(before + 1);

    // Leaving the view stops the camera: its tracks end.
    await page.evaluate(() => {
      window.__stream = document.querySelector("#camera-video").srcObject;
    });
    await page.locator("#tab-finetune").tap();
    await expect(panel).toHaveAttribute("data-camera", "off");
    expect(await page.evaluate(() => window.__stream.getTracks().map((track) => track.readyState))).toEqual([
      "ended",
    ]);

    // Fine-tune: frames as samples of the class picked, as the uploaded image would be.
    await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
    await page.selectOption("#ft-class", "7");
    await page.locator("#ft-camera-start").tap();
    await expect(page.locator("#ft-camera-panel")).toHaveAttribute("data-camera", "on");
    await expect
      .poll(() => page.evaluate(() => document.querySelector("#ft-camera-video").videoWidth))
      .toBe(SIZE);
    await page.locator("#ft-camera-capture").tap();
    await page.locator("#ft-camera-capture").tap();
    await expect(page.locator('#ft-counts tr[data-label="7"]')).toHaveAttribute("data-count", "2");
    await page.setInputFiles("#ft-upload", { name: "seven.png", mimeType: "image/png", buffer: png });
    await expect(page.locator('#ft-counts tr[data-label="7"]')).toHaveAttribute("data-count", "3");
    const [first, second, file] = await page.evaluate(() =>
      window.edgeship.views.finetune.samples.samples.map((sample) => Array.from(sample.input)),
    );
    const sampleDiff = (a, b) => Math.max(...a.map((value, i) => Math.abs(value - b[i])));
    expect(sampleDiff(first, second)).toBe(0);
    expect(sampleDiff(first, file), "camera sample vs uploaded sample").toBeLessThan(1e-6);
    await attachScreenshot(page, "phone-finetune-camera");
    await page.locator("#ft-camera-stop").tap();
    await expect(page.locator("#ft-camera-panel")).toHaveAttribute("data-camera", "off");
    await expect(page.locator(".toast-error")).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
});

test("camera on a photo model: the frame gets the photo preprocessing an uploaded image gets", async () => {
  const photoDir = process.env.EDGESHIP_E2E_PHOTO;
  if (!photoDir) throw new Error("EDGESHIP_E2E_PHOTO is not set: run through `npx playwright test`");
  const server = await startServer(path.join(photoDir, "exports"));
  const { context, page, errors } = await openPhone(server.url);
  try {
    await appReady(page);
    await expect(page.locator("#image-input")).toHaveAttribute("data-mode", "photo");
    await page.setInputFiles("#upload-input", {
      name: "seven.png",
      mimeType: "image/png",
      buffer: greyPng(SIZE, SIZE, seven),
    });
    await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
    const uploaded = await page.evaluate(() => ({
      input: Array.from(window.edgeship.views.infer.lastInput),
      scores: JSON.parse(document.querySelector("#result").dataset.scores),
    }));
    // Photo preprocessing: the white paper is +1 in [-1, 1], not inverted into the background.
    expect(uploaded.input.slice(0, 3)).toEqual([1, 1, 1]);

    const panel = page.locator("#camera-panel");
    await page.locator("#camera-start").tap();
    await expect.poll(() => panel.getAttribute("data-frames").then(Number)).toBeGreaterThan(1);
    const live = await page.evaluate(() => ({
      input: Array.from(window.edgeship.views.infer.camera.lastInput),
      scores: JSON.parse(document.querySelector("#camera-panel").dataset.scores),
    }));
    expect(live.input).toEqual(uploaded.input);
    expect(live.scores).toEqual(uploaded.scores);
    await expect(page.locator("#camera-topk li")).toHaveCount(3);
    await attachScreenshot(page, "phone-camera-photo-model");
    await page.locator("#camera-stop").tap();
    await expect(panel).toHaveAttribute("data-camera", "off");
    expect(errors).toEqual([]);
  } finally {
    await context.close();
    await server.stop();
  }
});
