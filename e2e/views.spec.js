// Each view works and looks right: screenshots are saved under test-results/ (and attached to the report).
import { drawSeven, expect, openApp, test } from "./fixtures.js";
import { greyPng } from "./support/png.js";

async function snap(page, name) {
  const file = test.info().outputPath(`${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await test.info().attach(name, { path: file, contentType: "image/png" });
}

test("inference view: draw, auto backend, probabilities and latency", async ({ page }) => {
  await openApp(page);
  await expect(page.locator("#backend-select")).toHaveValue("auto");
  // Each runtime's backends, and no webgpu: this browser has no WebGPU adapter (e2e/webgpu.spec.js has one).
  const options = page.locator("#backend-select option");
  const manifest = await page.evaluate(() => window.edgeship.state.manifest);
  await expect(page.locator("#variant-select")).toHaveValue(manifest.default_variant);
  if (manifest.variants[manifest.default_variant].target === "tflite") {
    await expect(options).toHaveText(["auto (fastest)", "wasm"]); // LiteRT.js
  }
  await page.selectOption("#variant-select", "tfjs-fp32"); // auto has backends to measure
  await expect(options).toHaveText(["auto (fastest)", "wasm", "webgl", "cpu"]);
  await drawSeven(page); // a stroke predicts at once
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
  await expect(page.locator("#chart .bar-row")).toHaveCount(10);
  await expect(page.locator("#top1-label")).toHaveText("7");
  await expect(page.locator("#latency")).toContainText("ms");
  // "auto" measured the backends once and remembered the fastest.
  await expect(page.locator("#backend-note")).toContainText("auto →");
  const remembered = await page.evaluate(() => localStorage.getItem("edgeship.auto-backend.demo.tfjs-fp32"));
  expect(["wasm", "webgl", "cpu"]).toContain(remembered);
  await snap(page, "inference");
});

test("inference view: an uploaded photo (dark ink on white paper) is matched to the model's ink", async ({
  page,
}) => {
  await openApp(page);
  // A thick dark "1" on white: the model expects light ink on dark, so the app inverts it.
  const png = greyPng(60, 60, (x, y) => (x >= 26 && x < 36 && y >= 8 && y < 52 ? 20 : 235));
  await page.setInputFiles("#upload-input", { name: "one.png", mimeType: "image/png", buffer: png });
  await expect(page.locator("#result")).toHaveAttribute("data-state", "done");
  await expect(page.locator("#top1-label")).toHaveText("1");
});

test("compare view: every variant with size, load time, latency, agreement and accuracy", async ({
  page,
}) => {
  await openApp(page, "#compare");
  await page.click("#compare-run");
  await expect(page.locator("#view-compare")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  const manifest = await page.evaluate(() => window.edgeship.state.manifest);
  const rows = page.locator("#compare-table tbody tr");
  await expect(rows).toHaveCount(Object.keys(manifest.variants).length);
  await expect(page.locator("#compare-table tbody tr.failed")).toHaveCount(0);
  for (const text of await rows.allTextContents()) expect(text).toMatch(/%.*%/); // agreement and accuracy
  const reference = page.locator("#compare-table tbody tr", { hasText: "reference" });
  await expect(reference).toContainText("100.0 %");
  // Dynamic-range int8 is marked as a download-size variant (slower than fp32 here), with the reason.
  const downloadSize = page.locator("#compare-table tbody .tag.download-size");
  await expect(downloadSize).toHaveCount(1);
  await expect(
    page.locator('#compare-table tbody tr[data-variant="tflite-dynamic-int8"] .tag.download-size'),
  ).toHaveText("download size");
  await expect(downloadSize).toHaveAttribute(
    "title",
    "smaller download; runs slower than fp32 in the browser: int8 weights are expanded at run time",
  );
  await snap(page, "compare");
});

test("self-test view: every variant passes", async ({ page }) => {
  await openApp(page, "#selftest");
  await page.click("#selftest-run");
  await expect(page.locator("#view-selftest")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  await expect(page.locator("#selftest-summary")).toHaveClass(/ok/);
  await snap(page, "selftest");
});
