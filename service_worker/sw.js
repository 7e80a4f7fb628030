// The edgeship service worker (workbox injectManifest source; scripts/vendor.sh writes webapp/static/sw.js).
//
// - Precache: the app shell and vendored runtimes (the workbox manifest, injected at build time) plus the
//   default model's files (self.__EDGESHIP_MODELS__, prepended by the server to /sw.js). Any change to
//   either list changes /sw.js, which is how the browser notices a new version.
// - Caches are versioned: the precache name carries a hash of both lists; on activate every other
//   edgeship cache except the runtime model cache is deleted. Unchanged files are copied from the old
//   precache on install instead of being downloaded again.
// - A new version waits until the page asks it to take over ({type: "SKIP_WAITING"}): the user decides.
// - Other models are cached on first use: content-hashed files cache-first, the rest network-first.
// - LiteRT.js's compat build (for browsers without relaxed SIMD, 9.6 MB) is not precached: it is cached on
//   first use (LAZY), in a cache of this version that the next version's activate drops.
// - A full storage quota never costs the user a response the network gave: a failed cache write is
//   skipped, and the page is told ({type: "STORAGE_FULL", url}; url null: the install's precache) so it can
//   say what will not work offline. Without the message a failed install would be silent.

const PREFIX = "edgeship-";
const RUNTIME_CACHE = `${PREFIX}runtime-v1`;
const API_MODELS = "/api/models";
// How long a network-first request waits for the network before it answers from the cache (when it can).
const NETWORK_TIMEOUT_MS = 4000;

const SHELL = self.__WB_MANIFEST || [];
const MODELS = self.__EDGESHIP_MODELS__ || { default: null, files: [] };

function hashString(text) {
  // FNV-1a, 32 bit: a cache name only needs to change when the lists change.
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

const ENTRIES = [...SHELL, ...MODELS.files].map((entry) => {
  const url = new URL(entry.url, self.location.href).href;
  const key = entry.revision ? `${url}${url.includes("?") ? "&" : "?"}__rev=${entry.revision}` : url;
  return { url, key };
});
const VERSION = hashString(JSON.stringify([SHELL, MODELS]));
const PRECACHE = `${PREFIX}precache-${VERSION}`;
// Vendored files left out of the precache (workbox-config.cjs), cached cache-first when first asked for. Their
// names carry no hash: the cache is this version's, so an update never serves an older build.
const LAZY = /^\/vendor\/litert\/litert_wasm_compat_internal\.(js|wasm)$/;
const LAZY_CACHE = `${PREFIX}lazy-${VERSION}`;
const KEY_BY_URL = new Map(ENTRIES.map((entry) => [entry.url, entry.key]));
const INDEX_KEY = KEY_BY_URL.get(new URL("/", self.location.href).href);
// Names with a content hash (shards, .tflite files, model.json, parity and eval files) never change:
// cache-first is safe for them.
const IMMUTABLE = /\.[0-9a-f]{8,}\.(bin|tflite|json)$/;

/** Tells every page of the app (the first install's page is not controlled yet). */
async function tellPages(message) {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const page of pages) page.postMessage(message);
}

/** cache.put that never throws: the response is what matters; a full quota is reported to the pages. */
async function putIfRoom(cache, request, response) {
  try {
    await cache.put(request, response);
  } catch (error) {
    if (error.name === "QuotaExceededError") await tellPages({ type: "STORAGE_FULL", url: request.url });
    else console.warn(`not cached: ${request.url}: ${error.message}`);
  }
}

async function precacheEntry(cache, { url, key }) {
  const previous = await caches.match(key);
  if (previous) {
    await cache.put(key, previous);
    return;
  }
  const response = await fetch(url, { cache: "reload", credentials: "same-origin" });
  if (!response.ok) throw new Error(`precache: ${url} answered ${response.status}`);
  await cache.put(key, response);
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(PRECACHE);
      const results = await Promise.allSettled(ENTRIES.map((entry) => precacheEntry(cache, entry)));
      const failed = results.find((result) => result.status === "rejected");
      if (failed) {
        // The install fails (the browser tries again on a later visit): free what it wrote meanwhile.
        await caches.delete(PRECACHE);
        if (failed.reason && failed.reason.name === "QuotaExceededError") {
          await tellPages({ type: "STORAGE_FULL", url: null });
        }
        throw failed.reason;
      }
      // Remember the model list too, so the app can start offline.
      try {
        const response = await fetch(API_MODELS, { cache: "reload" });
        if (response.ok) await putIfRoom(await caches.open(RUNTIME_CACHE), new Request(API_MODELS), response);
      } catch {
        // Offline during install: the page fetched it already, or will on its next online visit.
      }
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([PRECACHE, RUNTIME_CACHE, LAZY_CACHE]);
      const names = await caches.keys();
      await Promise.all(
        names.filter((name) => name.startsWith(PREFIX) && !keep.has(name)).map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
  if (event.data && event.data.type === "GET_VERSION") {
    event.source.postMessage({ type: "VERSION", version: VERSION, defaultModel: MODELS.default });
  }
});

async function fromPrecache(key) {
  const cache = await caches.open(PRECACHE);
  return cache.match(key);
}

/**
 * The network's answer, or the cached copy when the network fails or, with a copy there, takes longer than
 * NETWORK_TIMEOUT_MS: a server that is gone without refusing (a phone off the laptop's Wi-Fi) would otherwise
 * leave the request, and the app with it, waiting for good. A late answer still refreshes the cache.
 */
async function networkFirst(request) {
  const cache = await caches.open(RUNTIME_CACHE);
  const network = fetch(request).then(async (response) => {
    if (response.ok) await putIfRoom(cache, request, response.clone());
    return response;
  });
  const cached = await cache.match(request);
  if (!cached) return network;
  network.catch(() => {}); // answered from the cache below; a late failure is nobody's business
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(cached), NETWORK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([network, late]);
  } catch {
    return cached;
  } finally {
    clearTimeout(timer);
  }
}

async function cacheFirst(request, cacheName = RUNTIME_CACHE) {
  const cache = await caches.open(cacheName);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await putIfRoom(cache, request, response.clone());
  return response;
}

async function handle(request) {
  const url = new URL(request.url);
  url.hash = "";
  // Every navigation opens the app, except /connect (the server's page for phones, never cached).
  const navigate = request.mode === "navigate" && url.pathname !== "/connect";
  const key = KEY_BY_URL.get(url.href) || (navigate ? INDEX_KEY : null);
  if (key) {
    const cached = await fromPrecache(key);
    if (cached) return cached;
    return fetch(request);
  }
  if (url.pathname === API_MODELS) return networkFirst(request);
  if (LAZY.test(url.pathname)) return cacheFirst(request, LAZY_CACHE);
  if (url.pathname.startsWith("/models/")) {
    return IMMUTABLE.test(url.pathname) ? cacheFirst(request) : networkFirst(request);
  }
  return fetch(request);
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(handle(request));
});
