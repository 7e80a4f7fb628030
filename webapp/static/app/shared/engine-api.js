// The engine's methods (app/model/engine.js runs them in app/worker/engine.worker.js):
//
//   init()                                   -> {crossOriginIsolated, wasmThreads, wasmThreadCount, wasmError,
//                                               tflite: {simd, multiThreading}, cores}
//   load({modelId, variant, backend, remembered})
//                                            -> {variant, runtime, backend, loadMs, bytes, measured?}
//   predict({modelId, variant, backend, remembered, input: Float32Array})
//                                            -> {scores: Float32Array, latencyMs, backend}
//   compare({modelId, backend, remembered, runs})     -> [{variant, bytes, loadMs, medianMs, agreement, accuracy}]
//   selfTest({modelId, backends, variants?})  -> [{variant, runtime, backend, maxAbsDiff, tolerance, top1, pass}]
//   memory()                                 -> {numTensors, numBytes}
//   unload({modelId?})                       -> null
//
// backend: "auto" | "wasm" | "webgl" | "cpu". "auto" uses `remembered` when given, else measures each
// backend briefly and answers with `measured` ({backend: medianMs}); the page remembers the choice.
// Long calls report {done, total, label} progress and can be cancelled with an AbortSignal.
export const ENGINE_METHODS = ["init", "load", "predict", "compare", "selfTest", "memory", "unload"];
