// workbox injectManifest: service_worker/sw.js -> webapp/static/sw.js, with the app shell and the vendored
// runtimes (scripts/vendor.sh) listed in self.__WB_MANIFEST. The models are not in this list: the server
// prepends `self.__EDGESHIP_MODELS__` to /sw.js (see service_worker/sw.js).
module.exports = {
  globDirectory: "webapp/static/",
  globPatterns: ["**/*.{html,js,css,json,webmanifest,png,svg,wasm}"],
  globIgnores: ["sw.js", "sw.js.map", "vendor/.installed"],
  swSrc: "service_worker/sw.js",
  swDest: "webapp/static/sw.js",
  // The tfjs-tflite binaries are ~3.6 MB each (the default limit, 2 MiB, would silently skip them);
  // scripts/vendor.sh fails on any skipped file.
  maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
  // "/" is served from index.html.
  templatedURLs: { "/": ["index.html"] },
};
