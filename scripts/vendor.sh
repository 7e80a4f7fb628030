#!/usr/bin/env bash
# Copy the browser runtimes from node_modules into webapp/static/vendor/ (the app serves them itself: no CDN,
# and they must be precached for offline use), then build webapp/static/sw.js with workbox injectManifest.
#
#   vendor/tf.min.js                         tfjs (core, layers, converter, cpu and webgl backends)
#   vendor/tf-backend-wasm.min.js + *.wasm   tfjs wasm backend and its three binaries (plain, simd, threaded-simd)
#   vendor/tf-tflite.min.js                  tfjs-tflite
#   vendor/tflite/*                          tfjs-tflite's emscripten loaders and binaries (the package's wasm/ folder)
#
# Fails when a file is missing or when workbox would leave any file out of the precache manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

NM=node_modules/@tensorflow
OUT=webapp/static/vendor
rm -rf "$OUT"
mkdir -p "$OUT/tflite"

cp "$NM/tfjs/dist/tf.min.js" "$OUT/"
cp "$NM/tfjs-backend-wasm/dist/tf-backend-wasm.min.js" "$OUT/"
cp "$NM"/tfjs-backend-wasm/dist/*.wasm "$OUT/"
cp "$NM/tfjs-tflite/dist/tf-tflite.min.js" "$OUT/"
cp "$NM"/tfjs-tflite/wasm/*.js "$NM"/tfjs-tflite/wasm/*.wasm "$OUT/tflite/"

# The minified bundles point at source maps we do not ship; drop the comment so DevTools does not 404.
for f in "$OUT"/*.min.js; do sed -i '/^\/\/# sourceMappingURL=/d' "$f"; done

# tfjs-tflite 0.0.1-alpha.10 preloads its emscripten module as soon as the script runs, from wasm path ""
# (setWasmPath cannot come first): in the engine worker that resolves to /app/worker/tflite_web_api_cc_*.js,
# which does not exist. The failure is caught, but the request is a synchronous importScripts: where the
# server is gone and its address never answers (a phone off the laptop's Wi-Fi), the engine worker blocks on
# it for good. The real load (runtimes/tflite.js, after setWasmPath) does not use that preload: drop it.
PRELOAD="').load(!0);var tfweb\$1="
[ "$(grep -cF "$PRELOAD" "$OUT/tf-tflite.min.js")" = 1 ] || {
  echo "vendor.sh: tf-tflite.min.js no longer has the eager preload this script removes; check the new version" >&2
  exit 1
}
sed -i "s/').load(!0);var tfweb\\\$1=/');var tfweb\$1=/" "$OUT/tf-tflite.min.js"
! grep -qF ".load(!0)" "$OUT/tf-tflite.min.js" || { echo "vendor.sh: the tfjs-tflite preload is still there" >&2; exit 1; }

for f in tf.min.js tf-backend-wasm.min.js tf-tflite.min.js \
  tfjs-backend-wasm.wasm tfjs-backend-wasm-simd.wasm tfjs-backend-wasm-threaded-simd.wasm \
  tflite/tflite_web_api_cc_simd_threaded.js tflite/tflite_web_api_cc_simd_threaded.wasm \
  tflite/tflite_web_api_cc_simd_threaded.worker.js tflite/tflite_web_api_cc.js tflite/tflite_web_api_cc.wasm; do
  [ -s "$OUT/$f" ] || { echo "vendor.sh: missing $OUT/$f" >&2; exit 1; }
done
echo "vendor.sh: $(find "$OUT" -type f | wc -l) files, $(du -sh "$OUT" | cut -f1) in $OUT"

# workbox only warns (exit 0) when it skips a file, e.g. one over maximumFileSizeToCacheInBytes: treat any
# warning as an error, so the offline app never silently lacks a file.
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
npx --no-install workbox injectManifest workbox-config.cjs 2>&1 | tee "$LOG"
if grep -v "^npm warn" "$LOG" | grep -qiE "warning|won't be precached|will not be precached|skipp"; then
  echo "vendor.sh: workbox skipped files (see above); raise maximumFileSizeToCacheInBytes or split them" >&2
  rm -f webapp/static/sw.js
  exit 1
fi
[ -s webapp/static/sw.js ] || { echo "vendor.sh: workbox did not write webapp/static/sw.js" >&2; exit 1; }
# Belt and braces: every vendored file must be in the precache manifest.
missing=0
while IFS= read -r f; do
  rel=${f#webapp/static/}
  grep -q "\"url\":\"$rel\"" webapp/static/sw.js || { echo "vendor.sh: $rel is not precached" >&2; missing=1; }
done < <(find "$OUT" -type f)
if [ "$missing" != 0 ]; then rm -f webapp/static/sw.js; exit 1; fi
