// The engine's methods (app/model/engine.js runs them in app/worker/engine.worker.js):
//
//   init()                                   -> {crossOriginIsolated, wasmThreads, wasmThreadCount, wasmError,
//                                               litert: {relaxedSimd, threads, webgpu},
//                                               tflite: {simd, multiThreading} (LiteRT.js's), cores}
//   load({modelId, variant, backend, remembered})
//                                            -> {variant, runtime, backend, loadMs, bytes, measured?}
//   predict({modelId, variant, backend, remembered, input: Float32Array})
//                                            -> {scores: Float32Array, latencyMs, backend}
//   compare({modelId, backend, remembered, runs})     -> [{variant, bytes, loadMs, medianMs, agreement, accuracy}]
//   selfTest({modelId, backends, variants?})  -> [{variant, runtime, backend, maxAbsDiff, tolerance, top1, pass}]
//   finetuneSetup({modelId, start})         -> {layers: [{name, className, params, head}], labels, head, startName}
//   train({modelId, start, labels, trainable, epochs, batchSize, learningRate, backend, inputs, targets, name})
//                                            -> the saved model's summary (app/shared/store.js), with backend
//                                               ("webgl" | "cpu" | "webgpu") and samplesPerSecond; progress carries
//                                               {kind: "batch" | "epoch", epoch, batch, batches, loss, accuracy}.
//                                               When saving fails (a full quota) the summary has
//                                               `unsaved: true` and `saveError` (the message), and the
//                                               worker keeps the model for this session: it predicts as
//                                               "ft:<key>" all the same.
//   saveUnsaved()                            -> {saved: [summary], error: message | null}: saves the kept
//                                               models, oldest first, up to the first failure
//   predictBatch({modelId, variant, backend, inputs, count}) -> {scores: Float32Array, classes, backend}
//   memory()                                 -> {numTensors, numBytes} (tfjs), {litertLive, litertHeapBytes}
//                                               (LiteRT.js: models + tensors not deleted, wasm heap size)
//   unload({modelId?, variant?, debugLeak?}) -> null (debugLeak: drop without freeing; e2e only)
//
// variant: an export's variant id, or "ft:<key>" for a model fine-tuned in this browser, built and read
// with app/shared/finetuned-id.js only (start: "export" for the export's tfjs-fp32 model, or "ft:<key>").
// backend: "auto" | "wasm" | "webgl" | "cpu" | "webgpu" for tfjs variants; "auto" | "wasm" | "webgpu" for
// .tflite variants (LiteRT.js; a tfjs-only name runs on its wasm). "auto" uses `remembered` when given, else
// measures each backend available here briefly (none when there is only one) and answers with `measured`
// ({backend: medianMs}); the page remembers the choice. `runtime` in answers: "tfjs" | "litert".
// Long calls report {done, total, label} progress and can be cancelled with an AbortSignal.
export const ENGINE_METHODS = [
  "init",
  "load",
  "predict",
  "compare",
  "selfTest",
  "finetuneSetup",
  "train",
  "saveUnsaved",
  "predictBatch",
  "memory",
  "unload",
];
