// The photo test's export and reference (e2e/support/photo_export.py does the Python side): built once per
// run by global-setup, beside the demo and at the same time; the folder is handed over in EDGESHIP_E2E_PHOTO.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { EDGESHIP, ROOT } from "./server.js";

const SCRIPT = path.join(ROOT, "e2e/support/photo_export.py");
// The venv's python, beside the edgeship it runs (EDGESHIP may point to another build's).
const PYTHON = path.join(path.dirname(EDGESHIP), "python");

/**
 * Builds DIR/photo.png and the export DIR/exports/photo; resolves when done. Output goes to DIR.log, not to
 * a pipe: the demo's spawnSync blocks this process meanwhile, and a full pipe would stall the build.
 */
export function buildPhotoExport(dir) {
  const log = `${dir}.log`;
  const out = openSync(log, "w");
  const child = spawn(PYTHON, [SCRIPT, "build", dir], {
    cwd: ROOT,
    stdio: ["ignore", out, out],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2", CUDA_VISIBLE_DEVICES: "" },
  });
  closeSync(out);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(dir);
      else reject(new Error(`the photo export failed (${code}):\n${readFileSync(log, "utf8").slice(-4000)}`));
    });
  });
}

/** exporter/image_preprocessing.py's model input for `png` under the export's manifest: {shape, values}. */
export function referenceInput(png, manifest) {
  const result = spawnSync(PYTHON, [SCRIPT, "reference", png, manifest], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`the reference preprocessing failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}
