// Builds the export every test serves, once per run: `edgeship demo` (trains the digits CNN and exports
// the whole ladder, ~20 s). The folder is handed to the tests in EDGESHIP_E2E_EXPORTS and removed afterwards.
// Meanwhile, the photo test's RGB export (e2e/support/photo.js) is built in EDGESHIP_E2E_PHOTO.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildPhotoExport } from "./support/photo.js";
import { EDGESHIP, ROOT } from "./support/server.js";

export default async function globalSetup() {
  if (!existsSync(path.join(ROOT, "webapp/static/sw.js"))) {
    throw new Error("webapp/static/sw.js is not built: run `make setup` (scripts/vendor.sh) first");
  }
  const dir = mkdtempSync(path.join(tmpdir(), "edgeship-e2e-"));
  const exportsDir = path.join(dir, "exports");
  const started = Date.now();
  const photo = buildPhotoExport(path.join(dir, "photo"));
  photo.catch(() => {}); // awaited below; no unhandled rejection while the demo runs
  const result = spawnSync(EDGESHIP, ["demo", "--out", path.join(exportsDir, "demo")], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2", CUDA_VISIBLE_DEVICES: "" },
  });
  if (result.status !== 0) {
    throw new Error(`edgeship demo failed (${result.status}):\n${result.stderr}\n${result.stdout}`);
  }
  console.log(`edgeship demo: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.env.EDGESHIP_E2E_PHOTO = await photo;
  process.env.EDGESHIP_E2E_EXPORTS = exportsDir;
  return () => rmSync(dir, { recursive: true, force: true });
}
