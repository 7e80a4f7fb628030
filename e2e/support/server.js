// Starts and stops `edgeship serve` on a free port (--port 0: the server prints the port it got).
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// EDGESHIP overrides the command (e.g. another build of the server); the default is the project's venv.
export const EDGESHIP = process.env.EDGESHIP || path.join(ROOT, ".venv/bin/edgeship");

export async function startServer(directory) {
  const child = spawn(EDGESHIP, ["serve", directory, "--host", "127.0.0.1", "--port", "0"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgeship serve did not start:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk;
      const match = output.match(/on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`edgeship serve exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      // A process killed by a signal keeps exitCode null: without signalCode a second stop() would wait for
      // an exit that already happened.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A private copy of the exports, served by its own server: for tests that alter what is served (tamper with
 * files, add or replace exports) and must leave the shared server be. `prepare(served)` runs before the
 * server starts; `dir` (the copy's parent, outside the served folder) is scratch space; stop() removes it all.
 */
export async function serveCopy(exportsDir, name, prepare = () => {}) {
  const dir = mkdtempSync(path.join(tmpdir(), `edgeship-${name}-`));
  const served = path.join(dir, "exports");
  cpSync(exportsDir, served, { recursive: true });
  try {
    prepare(served);
    const server = await startServer(served);
    return {
      ...server,
      dir,
      served,
      async stop() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
