// Every byte the app takes from an export is checked before a runtime sees it: a variant's files against the
// size and sha256 its manifest lists, the parity and eval files (which the manifest lists without a hash)
// against the sha256 prefix in their content-addressed names (docs/EXPORT_FORMAT.md). No DOM, no tfjs.
import { modelUrl } from "../shared/catalog.js";
import { concatBytes } from "./codec.js";

// The service worker's caches (service_worker/sw.js): a refused file is dropped from them, so that a reload
// fetches it again instead of the same bad copy.
const CACHE_PREFIX = "edgeship-";
// NAME.<first 16 hex of the file's sha256>.EXT
const NAME_HASH = /\.([0-9a-f]{16})\.[a-z]+$/;

/** A file the app will not use: the same on every backend, so the engine reports it as it is. */
export class IntegrityError extends Error {
  constructor(message) {
    super(message);
    this.name = "IntegrityError";
  }
}

const refused = (path, why) =>
  new IntegrityError(
    `${path} failed its integrity check (${why}): ` +
      "the file was altered or damaged in transit; reload, or re-export the model",
  );

const uncheckable = (path) =>
  new IntegrityError(
    `${path} cannot be checked (the manifest gives no size and sha256 for it): re-export the model`,
  );

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The response body as one exactly-sized Uint8Array; onReceived(bytesSoFar) as chunks arrive. */
async function fetchBytes(url, onReceived) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (onReceived) onReceived(received);
  }
  return concatBytes(chunks);
}

async function forgetCached(url) {
  if (!self.caches) return;
  const absolute = new URL(url, self.location.href).href;
  for (const name of await caches.keys()) {
    if (!name.startsWith(CACHE_PREFIX)) continue;
    await (await caches.open(name)).delete(absolute, { ignoreSearch: true });
  }
}

/** Fetches `path` of the export and throws an IntegrityError unless it has the expected size and hash. */
async function fetchChecked(modelId, path, { bytes, sha256, sha256Prefix }, onReceived) {
  const url = modelUrl(modelId, path);
  const data = await fetchBytes(url, onReceived);
  let why = null;
  if (bytes !== undefined && data.length !== bytes) {
    why = `${data.length} bytes where the manifest says ${bytes}`;
  } else {
    const actual = await sha256Hex(data);
    if (sha256 && actual !== sha256.toLowerCase()) why = "sha256 differs from the manifest";
    if (sha256Prefix && !actual.startsWith(sha256Prefix)) why = "sha256 differs from the hash in its name";
  }
  if (why) {
    await forgetCached(url).catch(() => {});
    throw refused(path, why);
  }
  return data;
}

/**
 * Every file of an exported variant ({path -> Uint8Array}), each checked against its manifest entry;
 * onProgress(fraction) over all of them. `spec`: a variant's {entry, files}, or for a .tflite variant its
 * `browser` part (the file LiteRT.js runs), checked the same way.
 */
export async function fetchVariantFiles(modelId, spec, onProgress) {
  const files = spec.files || [];
  if (!files.some((file) => file.path === spec.entry)) throw uncheckable(spec.entry);
  const unhashed = files.find((file) => !file.sha256 || !Number.isInteger(file.bytes));
  if (unhashed) throw uncheckable(unhashed.path);
  const total = files.reduce((sum, file) => sum + file.bytes, 0);
  const received = new Array(files.length).fill(0);
  const report = (index, count) => {
    received[index] = count;
    if (onProgress && total) onProgress(Math.min(1, received.reduce((a, b) => a + b, 0) / total));
  };
  const data = await Promise.all(
    files.map((file, index) => fetchChecked(modelId, file.path, file, (count) => report(index, count))),
  );
  return new Map(files.map((file, index) => [file.path, data[index]]));
}

/**
 * A JSON file of the export (a parity fixture, the eval data), checked against the hash in its name. An
 * eval file may be named without one (the server accepts a plain eval.json): that one cannot be checked.
 */
export async function fetchExportJson(modelId, path) {
  const match = NAME_HASH.exec(path);
  const data = await fetchChecked(modelId, path, { sha256Prefix: match ? match[1] : null });
  return JSON.parse(new TextDecoder().decode(data));
}
