// Running a loaded variant (app/model/variants.js) on float32 inputs: one batch, a batched pass over many
// samples, and a median single-sample latency. Real values in and out, on every runtime: the browser-facing
// .tflite files (manifest `browser`) take and give float32, their int8 internals quantize at the edges.
// Worker only.
import { checkAborted } from "../shared/bridge.js";
import { inputSize } from "../shared/catalog.js";
import { median } from "../shared/metrics.js";
import * as litertRuntime from "./runtimes/litert.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";

const BATCH = 32;

/** Runs n samples (float32 inputs, real values) and returns real-valued outputs. */
export async function runReal(manifest, spec, entry, input, n) {
  if (entry.runtime === "litert") return litertRuntime.predict(entry.model, input, n);
  const shape = [n, ...manifest.input.shape.slice(1)];
  return tfjsRuntime.predict(entry.model, input, shape);
}

/** Every sample of `inputs` (an NdArray, batch first) in batches of 32; onBatch(fraction) after each. */
export async function runBatched(manifest, spec, entry, inputs, signal, onBatch) {
  const n = inputs.shape[0];
  const per = inputSize(manifest);
  const classes = manifest.output.shape[manifest.output.shape.length - 1];
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += BATCH) {
    checkAborted(signal);
    const end = Math.min(n, start + BATCH);
    const batch = inputs.data.subarray(start * per, end * per);
    out.set(await runReal(manifest, spec, entry, batch, end - start), start * classes);
    if (onBatch) onBatch(end / n);
  }
  return out;
}

/** Median milliseconds of `runs` single-sample predictions, after `warmup` untimed ones. */
export async function timeSingle(manifest, spec, entry, sample, warmup, runs) {
  for (let i = 0; i < warmup; i += 1) await runReal(manifest, spec, entry, sample, 1);
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await runReal(manifest, spec, entry, sample, 1);
    times.push(performance.now() - started);
  }
  return median(times);
}

/** A neutral sample (every value at the bottom of the input range) for timing without eval data. */
export function blankSample(manifest) {
  return new Float32Array(inputSize(manifest)).fill(manifest.preprocessing?.range?.[0] ?? 0);
}
