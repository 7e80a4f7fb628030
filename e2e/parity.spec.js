// Parity: every variant in the browser against its fixture (outputs of the Python TFLite interpreter),
// through the Self-test view. TFJS: every variant x backend; TFLite: every .tflite file.
import { expect, openApp, test } from "./fixtures.js";

// The bounds the app states (webapp/static/app/model/runtimes/*.js). WebGL here is SwiftShader (software):
// measured differences are ~1e-7, like cpu; 1e-3 is the bound stated for real GPUs with 16-bit textures.
const TFJS_BOUND = { cpu: 1e-4, wasm: 1e-4, webgl: 1e-3 };

async function runSelfTest(page) {
  await openApp(page, "#selftest");
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

test("TFLite: every .tflite variant matches the Python interpreter (int8 exact, float 1e-6)", async ({
  page,
}, testInfo) => {
  const { rows, manifest } = await runSelfTest(page);
  const tflite = Object.keys(manifest.variants).filter((id) => manifest.variants[id].target === "tflite");
  expect(tflite.length).toBeGreaterThan(0);
  for (const variant of tflite) {
    const spec = manifest.variants[variant];
    const row = rows.find((r) => r.variant === variant);
    expect(row, variant).toBeTruthy();
    testInfo.annotations.push({ type: "max abs diff", description: `${variant}: ${row.diff}` });
    if (spec.output_dtype === "int8") expect(row.diff, `${variant}: ${row.text}`).toBe(0);
    else expect(row.diff, `${variant}: ${row.text}`).toBeLessThanOrEqual(1e-6);
    expect(row.pass, `${variant}: ${row.text}`).toBe(true);
  }
  await expect(page.locator("#selftest-summary")).toHaveText(`${rows.length} of ${rows.length} passed`);
});
