// The plain LiteRT.js page's script: loadLiteRt, loadAndCompile(url, {accelerator: "wasm"}), model.run timed.
/* global plainRun, plainInput */
import { loadAndCompile, loadLiteRt, Tensor } from "@litertjs/core";

plainRun(async ({ model: url, threads }) => {
  await loadLiteRt("/npm/@litertjs/core/wasm/", { threads: self.crossOriginIsolated });
  performance.mark("plain:runtime-ready");
  const model = await loadAndCompile(url, { accelerator: "wasm", cpuOptions: { numThreads: threads } });
  performance.mark("plain:model-ready");
  const [input] = model.getInputDetails();
  const shape = Array.from(input.shape);
  const size = shape.reduce((a, b) => a * b, 1);
  const data =
    input.dtype === "float32"
      ? plainInput(size, 0, 1)
      : Int8Array.from(plainInput(size, -128, 127), Math.floor); // LiteRT.js 2.5.3 refuses these anyway
  return {
    runtime: "litert",
    backend: "wasm",
    threads: self.crossOriginIsolated ? threads : 1,
    run: async () => {
      const x = new Tensor(data, shape);
      try {
        const outputs = await model.run(x);
        for (const y of outputs) {
          y.toTypedArray();
          y.delete();
        }
      } finally {
        x.delete();
      }
    },
    dispose: () => model.delete(),
  };
});
