// The upload outbox: "Convert for mobile" requests kept in IndexedDB until the server has answered, so a
// conversion asked for offline is sent when the network returns (the page calls flush() on start and on
// `online`). Page only (the worker never uploads); no DOM and no tfjs.
//
// An item: {id, url, key, name, created, state, error, result, parts: {model, weights, samples}, inTab,
//           retryAt}
//   state: "queued" (waiting for the network) -> "sending" -> "done" (result: the server's 201 body)
//          | "failed" (error: the server's message; not retried on its own: the request would fail again)
//          | "queued" again with retryAt (an ISO time) and error set, when the server answered 503: busy
//            converting other uploads; it is sent again at retryAt (the server's Retry-After), by itself.
//   inTab: true when the storage quota left no room to queue it while online: it is sent at once and kept
//          in this tab only (offline, nothing could send it later, so enqueue() refuses instead).
import { STORES, isQuotaError, transact } from "../shared/idb.js";

const STORE = STORES.outbox;
const listeners = new Set();
const inTab = new Map(); // id -> item, for the items kept in this tab only
let flushing = null;
let again = false;
let retryTimer = null;

const RETRY_DEFAULT_S = 30;
const RETRY_MAX_S = 600;

/** Seconds a Retry-After header asks for (seconds or an HTTP date), within 1 s .. 10 min. */
function retryAfterSeconds(header) {
  let seconds = Number(header);
  if (header && !Number.isFinite(seconds)) seconds = (Date.parse(header) - Date.now()) / 1000;
  if (!header || !Number.isFinite(seconds)) seconds = RETRY_DEFAULT_S;
  return Math.min(RETRY_MAX_S, Math.max(1, Math.ceil(seconds)));
}

/** A flush at `when` (ms since the epoch); the page's own flushes (start, `online`) still run meanwhile. */
function flushAt(when) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(
    () => {
      retryTimer = null;
      flush().catch((error) => console.error("upload retry", error));
    },
    Math.max(0, when - Date.now()),
  );
}

function put(item) {
  if (!item.inTab) {
    return transact([STORE], "readwrite", (s) => s[STORE].put(item), "queue the upload");
  }
  inTab.set(item.id, item);
  return Promise.resolve();
}

async function update(item, changes) {
  const next = { ...item, ...changes };
  await put(next);
  for (const listener of listeners) listener(next);
  return next;
}

export function onOutboxChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Every item, oldest first. */
export async function listOutbox() {
  const items = await transact([STORE], "readonly", (s) => s[STORE].getAll());
  return [...items, ...inTab.values()].sort((a, b) => a.created.localeCompare(b.created));
}

export async function removeFromOutbox(id) {
  if (inTab.delete(id)) return;
  await transact([STORE], "readwrite", (s) => s[STORE].delete(id));
}

/**
 * Queues a POST of multipart parts ({name: string | ArrayBuffer}); returns the item. With no room to
 * queue it, online, the item is kept in this tab only (item.inTab) and flush() sends it; offline, the
 * quota error is thrown.
 */
export async function enqueue({ url, key, name, parts }) {
  const item = {
    id: `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`,
    url,
    key,
    name,
    created: new Date().toISOString(),
    state: "queued",
    error: null,
    result: null,
    parts,
  };
  try {
    await put(item);
  } catch (error) {
    if (!isQuotaError(error) || !navigator.onLine) throw error;
    item.inTab = true;
    await put(item);
  }
  for (const listener of listeners) listener(item);
  return item;
}

export async function retry(id) {
  const item = (await listOutbox()).find((candidate) => candidate.id === id);
  if (item && item.state === "failed") await update(item, { state: "queued", error: null, retryAt: null });
}

function formOf(parts) {
  const form = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    const type = typeof value === "string" ? "application/json" : "application/octet-stream";
    form.append(name, new Blob([value], { type }), name);
  }
  return form;
}

async function send(item) {
  let response;
  try {
    response = await fetch(item.url, { method: "POST", body: formOf(item.parts) });
  } catch {
    return update(item, { state: "queued" }); // the network is gone: wait for it
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok) return update(item, { state: "done", result: body, parts: null, retryAt: null });
  const message = (body && body.error) || `HTTP ${response.status}`;
  if (response.status === 503) {
    // Busy with other uploads (or not up yet): this one is fine, it only has to come back later.
    const when = Date.now() + 1000 * retryAfterSeconds(response.headers.get("Retry-After"));
    flushAt(when);
    const retryAt = new Date(when).toISOString();
    return update(item, { state: "queued", error: `${response.status}: ${message}`, retryAt });
  }
  return update(item, { state: "failed", error: `${response.status}: ${message}`, retryAt: null });
}

async function flushOnce() {
  for (const item of await listOutbox()) {
    // "sending" left over from a page closed mid-upload is sent again.
    if (item.state !== "queued" && item.state !== "sending") continue;
    if (!navigator.onLine) return;
    const retryAt = item.retryAt ? Date.parse(item.retryAt) : 0;
    if (retryAt > Date.now()) {
      flushAt(retryAt); // the server asked us to wait: so do the items after it (it is busy for them too)
      return;
    }
    const sent = await send(await update(item, { state: "sending", retryAt: null }));
    if (sent.state === "queued") return;
  }
}

/** Sends every queued item, one at a time, while the network is up. */
export function flush() {
  if (flushing) {
    again = true; // an item queued during this flush is sent by it too
    return flushing;
  }
  flushing = (async () => {
    do {
      again = false;
      await flushOnce();
    } while (again);
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}
