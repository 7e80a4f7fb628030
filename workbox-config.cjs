// workbox injectManifest: service_worker/sw.js -> webapp/static/sw.js, with the app shell and the vendored
// runtimes (scripts/vendor.sh) listed in self.__WB_MANIFEST. The models are not in this list: the server
// prepends `self.__EDGESHIP_MODELS__` to /sw.js (see service_worker/sw.js).
module.exports = {
  globDirectory: "webapp/static/",
  globPatterns: ["**/*.{html,js,css,json,webmanifest,png,svg,wasm}"],
  // LiteRT.js's compat build (browsers without relaxed SIMD: 9.6 MB) is cached on first use instead
  // (service_worker/sw.js, LAZY): precaching it would cost every other browser its download.
  globIgnores: ["sw.js", "sw.js.map", "vendor/.installed", "vendor/litert/litert_wasm_compat_internal.*"],
  swSrc: "service_worker/sw.js",
  swDest: "webapp/static/sw.js",
  // LiteRT.js's binaries are ~9.4 MB each (the default limit, 2 MiB, would silently skip them);
  // scripts/vendor.sh fails on any skipped file.
  maximumFileSizeToCacheInBytes: 12 * 1024 * 1024,
  // "/" is served from index.html.
  templatedURLs: { "/": ["index.html"] },
};
