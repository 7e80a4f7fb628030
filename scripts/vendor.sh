#!/usr/bin/env bash
# Copy the browser runtimes from node_modules into webapp/static/vendor/ (the app serves them itself: no CDN,
# and they must be precached for offline use), then build webapp/static/sw.js with workbox injectManifest.
#
#   vendor/tf.min.js                         tfjs (core, layers, converter, cpu and webgl backends)
#   vendor/tf-backend-wasm.min.js + *.wasm   tfjs wasm backend and its three binaries (plain, simd, threaded-simd)
#   vendor/tf-backend-webgpu.min.js          tfjs webgpu backend (loaded only where WebGPU gives an adapter)
#   vendor/litert/litert.js + wasm-utils.js  LiteRT.js (@litertjs/core's ESM, its one bare import made relative)
#   vendor/litert/litert_wasm_*_internal.*   LiteRT.js's emscripten loaders and binaries: threaded (relaxed SIMD +
#                                            threads), plain (relaxed SIMD), compat (neither); no JSPI build
#
# @tensorflow/tfjs-tflite stays in node_modules for the bench's plain-page baseline only: the app does not ship it.
#
# Fails when a file is missing or when workbox would leave any file out of the precache manifest.
set -euo pipefail
cd "$(dirname "$0")/.."

NM=node_modules/@tensorflow
LITERT=node_modules/@litertjs
OUT=webapp/static/vendor
rm -rf "$OUT"
mkdir -p "$OUT/litert"

cp "$NM/tfjs/dist/tf.min.js" "$OUT/"
cp "$NM/tfjs-backend-wasm/dist/tf-backend-wasm.min.js" "$OUT/"
cp "$NM"/tfjs-backend-wasm/dist/*.wasm "$OUT/"
cp "$NM/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js" "$OUT/"

# The minified bundles point at source maps we do not ship; drop the comment so DevTools does not 404.
for f in "$OUT"/*.min.js; do sed -i '/^\/\/# sourceMappingURL=/d' "$f"; done

# LiteRT.js: its ESM imports the bare specifier "@litertjs/wasm-utils", which a browser cannot resolve
# without an import map (and a worker has none): point it at the copy beside it.
cp "$LITERT/core/dist/index.js" "$OUT/litert/litert.js"
cp "$LITERT/wasm-utils/dist/index.js" "$OUT/litert/wasm-utils.js"
BARE='from "@litertjs/wasm-utils";'
[ "$(grep -cF "$BARE" "$OUT/litert/litert.js")" = 1 ] || {
  echo "vendor.sh: @litertjs/core's index.js no longer has the one import of @litertjs/wasm-utils this script rewrites; check the new version" >&2
  exit 1
}
sed -i 's#from "@litertjs/wasm-utils";#from "./wasm-utils.js";#' "$OUT/litert/litert.js"
! grep -qE "from ['\"]@" "$OUT/litert/litert.js" "$OUT/litert/wasm-utils.js" || {
  echo "vendor.sh: LiteRT.js still has a bare import after the rewrite" >&2
  exit 1
}
for f in "$OUT"/litert/*.js; do sed -i '/^\/\/# sourceMappingURL=/d' "$f"; done
for flavour in threaded "" compat; do
  name="litert_wasm${flavour:+_$flavour}_internal"
  cp "$LITERT/core/wasm/$name.js" "$LITERT/core/wasm/$name.wasm" "$OUT/litert/"
done

for f in tf.min.js tf-backend-wasm.min.js tf-backend-webgpu.min.js \
  tfjs-backend-wasm.wasm tfjs-backend-wasm-simd.wasm tfjs-backend-wasm-threaded-simd.wasm \
  litert/litert.js litert/wasm-utils.js \
  litert/litert_wasm_threaded_internal.js litert/litert_wasm_threaded_internal.wasm \
  litert/litert_wasm_internal.js litert/litert_wasm_internal.wasm \
  litert/litert_wasm_compat_internal.js litert/litert_wasm_compat_internal.wasm; do
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
# Belt and braces: every vendored file must be in the precache manifest, except LiteRT.js's compat build,
# which the service worker caches on first use (LAZY in service_worker/sw.js; workbox-config.cjs skips it).
LAZY='^vendor/litert/litert_wasm_compat_internal\.(js|wasm)$'
grep -qF "litert_wasm_compat_internal" webapp/static/sw.js || {
  echo "vendor.sh: sw.js has no cache-on-first-use route for LiteRT.js's compat build" >&2
  rm -f webapp/static/sw.js
  exit 1
}
missing=0
while IFS= read -r f; do
  rel=${f#webapp/static/}
  if [[ "$rel" =~ $LAZY ]]; then
    ! grep -q "\"url\":\"$rel\"" webapp/static/sw.js || { echo "vendor.sh: $rel is precached" >&2; missing=1; }
    continue
  fi
  grep -q "\"url\":\"$rel\"" webapp/static/sw.js || { echo "vendor.sh: $rel is not precached" >&2; missing=1; }
done < <(find "$OUT" -type f)
if [ "$missing" != 0 ]; then rm -f webapp/static/sw.js; exit 1; fi
