// The plain tfjs-tflite page's script: tflite.loadTFLiteModel(url, {numThreads}), model.predict timed.
/* global tf, tflite, plainRun, plainInput */
"use strict";

plainRun(async ({ model: url, threads }) => {
  tflite.setWasmPath("/npm/@tensorflow/tfjs-tflite/wasm/");
  await tf.ready();
  performance.mark("plain:runtime-ready");
  const model = await tflite.loadTFLiteModel(url, { numThreads: threads });
  performance.mark("plain:model-ready");
  const [input] = model.inputs;
  const shape = [1, ...input.shape.slice(1)];
  const size = shape.reduce((a, b) => a * b, 1);
  const integer = input.dtype !== "float32"; // an int8-input file: tfjs has no int8, tfjs-tflite takes int32
  const x = integer
    ? tf.tensor(Int32Array.from(plainInput(size, -128, 127), Math.floor), shape, "int32")
    : tf.tensor(plainInput(size, 0, 1), shape, "float32");
  const warn = console.warn; // it warns on every int32 -> int8 call: expected here
  return {
    runtime: "tfjs-tflite",
    backend: "wasm",
    threads,
    run: async () => {
      console.warn = () => {};
      let y;
      try {
        y = model.predict(x);
      } finally {
        console.warn = warn;
      }
      await y.data();
      y.dispose();
    },
    dispose: () => x.dispose(),
  };
});
