// Builds the static site (`edgeship build-site`) and serves it with Debian's nginx, configured only by the
// `_nginx.conf` snippet the build wrote: the test proves the snippet, not a hand-made server.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { EDGESHIP, ROOT } from "./server.js";

const NGINX = process.env.NGINX || "/usr/sbin/nginx";

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, output) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${output()}`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.end(() => resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nginx did not listen on ${port}:\n${output()}`);
}

export async function startStaticSite(exportsDir) {
  const prefix = mkdtempSync(path.join(tmpdir(), "edgeship-site-"));
  const site = path.join(prefix, "site");
  const built = spawnSync(EDGESHIP, ["build-site", exportsDir, site], { cwd: ROOT, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`edgeship build-site failed:\n${built.stdout}${built.stderr}`);
  const port = await freePort();
  for (const dir of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(path.join(prefix, dir));
  const conf = path.join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    [
      "user root;", // the tests run as root and the site lives in a private temp folder
      "worker_processes 1;",
      `pid ${prefix}/nginx.pid;`,
      `error_log ${prefix}/error.log warn;`,
      "events { worker_connections 64; }",
      "http {",
      "  access_log off;",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((d) => `  ${d}_temp_path ${prefix}/${d};`),
      `  server { listen 127.0.0.1:${port}; root ${site}; include ${site}/_nginx.conf; }`,
      "}",
    ].join("\n"),
  );
  const child = spawn(NGINX, ["-p", prefix, "-c", conf, "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  await waitForPort(port, child, () => output);
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGQUIT");
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
