// The plain tfjs pages' script: tf.loadLayersModel on the default backend (plain.html), or on wasm
// (plain-wasm.html: <html data-backend="wasm">, 2 threads) as the tfjs-backend-wasm README sets it up.
/* global tf, plainRun, plainInput */
"use strict";

plainRun(async ({ model: url, threads }) => {
  const wanted = document.documentElement.dataset.backend;
  if (wanted === "wasm") {
    tf.wasm.setWasmPaths("/npm/@tensorflow/tfjs-backend-wasm/dist/");
    tf.wasm.setThreadsCount(threads);
    await tf.setBackend("wasm");
  }
  await tf.ready();
  performance.mark("plain:runtime-ready");
  const model = await tf.loadLayersModel(url);
  performance.mark("plain:model-ready");
  const shape = [1, ...model.inputs[0].shape.slice(1)];
  const x = tf.tensor(
    plainInput(
      shape.reduce((a, b) => a * b, 1),
      0,
      1,
    ),
    shape,
  );
  return {
    runtime: "tfjs",
    backend: tf.getBackend(),
    threads: tf.getBackend() === "wasm" ? tf.wasm.getThreadsCount() : null,
    run: async () => {
      const y = model.predict(x);
      await y.data();
      y.dispose();
    },
    dispose: () => x.dispose(),
  };
});
