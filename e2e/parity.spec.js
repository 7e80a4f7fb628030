// Parity: every variant in the browser against its fixture (outputs of the Python TFLite interpreter),
// through the Self-test view. TFJS: every variant x backend; TFLite: every .tflite variant's browser file
// (batch 1, float32 I/O) on LiteRT.js.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { appReady, expect, openApp, test } from "./fixtures.js";
import { startServer } from "./support/server.js";

// The bounds the app states (webapp/static/app/model/runtimes/*.js). WebGL here is SwiftShader (software):
// measured differences are ~1e-7, like cpu; 1e-3 is the bound stated for real GPUs with 16-bit textures.
const TFJS_BOUND = { cpu: 1e-4, wasm: 1e-4, webgl: 1e-3 };

async function runSelfTest(page, url = null) {
  if (url) {
    await page.goto(`${url}#selftest`);
    await appReady(page);
  } else await openApp(page, "#selftest");
  await page.click("#selftest-run");
  await expect(page.locator("#view-selftest")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  const rows = await page.locator("#selftest-table tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({
      variant: tr.dataset.variant,
      backend: tr.dataset.backend,
      pass: tr.dataset.pass === "true",
      diff: Number(tr.dataset.diff),
      text: tr.textContent,
    })),
  );
  const manifest = await page.evaluate(() => window.edgeship.state.manifest);
  return { rows, manifest };
}

test("TFJS: every variant x backend (cpu, wasm, webgl) matches its fixture", async ({ page }, testInfo) => {
  const { rows, manifest } = await runSelfTest(page);
  const tfjs = Object.keys(manifest.variants).filter((id) => manifest.variants[id].target === "tfjs");
  expect(tfjs.length).toBeGreaterThan(0);
  for (const variant of tfjs) {
    for (const backend of ["cpu", "wasm", "webgl"]) {
      const row = rows.find((r) => r.variant === variant && r.backend === backend);
      expect(row, `${variant} on ${backend}`).toBeTruthy();
      testInfo.annotations.push({ type: "max abs diff", description: `${variant} ${backend}: ${row.diff}` });
      expect(row.diff, `${variant} on ${backend}: ${row.text}`).toBeLessThanOrEqual(TFJS_BOUND[backend]);
      expect(row.pass, `${variant} on ${backend}: ${row.text}`).toBe(true); // includes identical top-1
    }
  }
});

test("TFLite: every .tflite variant on LiteRT.js (wasm) matches the Python interpreter on its browser file", async ({
  page,
  context,
}, testInfo) => {
  const tfliteFetched = [];
  // The app's own requests (the page, the engine worker), not the service worker's precache.
  context.on("request", (request) => {
    if (request.serviceWorker()) return;
    if (/\.tflite$/.test(new URL(request.url()).pathname)) tfliteFetched.push(request.url());
  });
  const { rows, manifest } = await runSelfTest(page);
  const tflite = Object.keys(manifest.variants).filter((id) => manifest.variants[id].target === "tflite");
  expect(tflite.length).toBeGreaterThan(0);
  for (const variant of tflite) {
    const spec = manifest.variants[variant];
    // The self-test compares with the browser file's own fixture (the Python interpreter on that file).
    expect(spec.browser && spec.browser.parity, `${variant} has a browser file`).toBeTruthy();
    const row = rows.find((r) => r.variant === variant && r.backend === "wasm");
    expect(row, `${variant} on LiteRT.js wasm`).toBeTruthy();
    expect(row.text).toContain("LiteRT.js wasm");
    testInfo.annotations.push({ type: "max abs diff", description: `${variant}: ${row.diff}` });
    // int8 and fully-integer qat: the same integer kernels, bit-exact; float files within 1e-6.
    const integer = spec.precision === "int8" || spec.input_dtype === "int8" || spec.output_dtype === "int8";
    if (integer) expect(row.diff, `${variant}: ${row.text}`).toBe(0);
    else expect(row.diff, `${variant}: ${row.text}`).toBeLessThanOrEqual(1e-6);
    expect(row.pass, `${variant}: ${row.text}`).toBe(true); // includes identical top-1
  }
  await expect(page.locator("#selftest-summary")).toHaveText(`${rows.length} of ${rows.length} passed`);
  // The app fetched the browser files only, never the deployable ones (free batch, int8 I/O).
  const browserFiles = tflite.map((id) => manifest.variants[id].browser.entry);
  expect(tfliteFetched.length).toBeGreaterThan(0);
  for (const url of tfliteFetched) {
    expect(
      browserFiles.some((entry) => url.endsWith(entry)),
      url,
    ).toBe(true);
  }
});

test("an export that predates the browser's .tflite files: its tflite variants say so in one line, the rest pass", async ({
  page,
  exportsDir,
}) => {
  const dir = mkdtempSync(path.join(tmpdir(), "edgeship-old-export-"));
  cpSync(path.join(exportsDir, "demo"), path.join(dir, "demo"), { recursive: true });
  const manifestPath = path.join(dir, "demo", "manifest.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  for (const spec of Object.values(manifest.variants)) delete spec.browser; // as edgeship wrote it before
  // ...except tflite-qat, written by this edgeship without its browser file (the export's check refused it).
  const skipped =
    "tflite-qat: the browser file (batch 1, float32 input and output) differs from the deployable";
  manifest.variants["tflite-qat"].browser_skipped = skipped;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  const server = await startServer(dir);
  try {
    const { rows } = await runSelfTest(page, server.url);
    const line = "this export predates the browser's TFLite runtime: export it again with this edgeship";
    for (const [variant, spec] of Object.entries(manifest.variants)) {
      const mine = rows.filter((r) => r.variant === variant);
      expect(mine.length, variant).toBeGreaterThan(0);
      for (const row of mine) {
        if (variant === "tflite-qat") {
          expect(row.pass, variant).toBe(false);
          expect(row.text, variant).toContain(
            `no browser file for this variant, so it runs only outside the browser: ${skipped}`,
          );
        } else if (spec.target === "tflite") {
          expect(row.pass, variant).toBe(false);
          expect(row.text, variant).toContain(line);
        } else expect(row.pass, `${variant} on ${row.backend}: ${row.text}`).toBe(true);
      }
    }
    // Predicting with one says the same line.
    const error = await page.evaluate(
      async (modelId) => {
        try {
          await window.edgeship.engine.load({ modelId, variant: "tflite-int8", backend: "wasm" });
          return null;
        } catch (failure) {
          return failure.message;
        }
      },
      await page.evaluate(() => window.edgeship.state.modelId),
    );
    expect(error).toBe(line);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
