// The engine's diagnostics (app/shared/engine-api.js): `compare` times every variant and scores it on the
// export's eval data against the float32 reference; `selfTest` runs each variant's parity fixture and checks
// it against the outputs the exporter recorded, within the runtime's stated bound. Worker only.
import { checkAborted } from "../shared/bridge.js";
import { referenceVariant, variantIds } from "../shared/catalog.js";
import { agreement, argmaxRows, maxAbsDiff } from "../shared/metrics.js";
import { decodeArray, sliceRows } from "./codec.js";
import { blankSample, runBatched, timeSingle } from "./inference.js";
import { fetchExportJson } from "./integrity.js";
import * as tfjsRuntime from "./runtimes/tfjs.js";
import * as litertRuntime from "./runtimes/litert.js";
import {
  browserFilesOf,
  ensureLoaded,
  loadVariant,
  loadedEntry,
  manifestOf,
  runtimeOf,
  unloadVariant,
  variantOf,
} from "./variants.js";

const classesOf = (manifest) => manifest.output.shape[manifest.output.shape.length - 1];

/** [{variant, target, precision, backend, bytes, loadMs, medianMs, agreement, accuracy, reference, error}] */
async function compare({ modelId, backend = "auto", remembered = null, runs = 20 }, { progress, signal }) {
  const manifest = await manifestOf(modelId);
  const ids = variantIds(manifest);
  const evalData = manifest.eval ? await fetchExportJson(modelId, manifest.eval) : null;
  const inputs = evalData ? decodeArray(evalData.inputs) : null;
  const labels = evalData ? decodeArray(evalData.labels).data : null;
  const classes = classesOf(manifest);
  const reference = referenceVariant(manifest);
  const order = [reference, ...ids.filter((id) => id !== reference)];
  const total = order.length;
  let referenceTop1 = null;
  const rows = [];
  for (const [index, variant] of order.entries()) {
    checkAborted(signal);
    const spec = manifest.variants[variant];
    const step = (fraction, label) =>
      progress({ done: index + fraction, total, label: `${variant}: ${label}` });
    try {
      unloadVariant(modelId, variant); // measure a real load (from the cache when offline)
      const info = await loadVariant({ modelId, variant, backend, remembered }, (p) =>
        step(0.3 * (p.done / (p.total || 1)), "loading"),
      );
      const entry = loadedEntry(modelId, variant);
      const sample = inputs ? sliceRows(inputs, 0, 1).data : blankSample(manifest);
      step(0.3, "latency");
      const medianMs = await timeSingle(manifest, spec, entry, Float32Array.from(sample), 2, runs);
      let accuracy = null;
      let agree = null;
      if (inputs) {
        const out = await runBatched(manifest, spec, entry, inputs, signal, (f) =>
          step(0.5 + 0.5 * f, "eval"),
        );
        const top1 = argmaxRows(out, classes);
        accuracy = labels ? agreement(top1, labels) : null;
        if (variant === reference) referenceTop1 = top1;
        agree = referenceTop1 ? agreement(top1, referenceTop1) : null;
      }
      rows.push({
        variant,
        target: spec.target,
        precision: spec.precision,
        backend: info.backend,
        bytes: spec.bytes,
        loadMs: info.loadMs,
        medianMs,
        agreement: agree,
        accuracy,
        reference: variant === reference,
        error: null,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      rows.push({
        variant,
        target: spec.target,
        precision: spec.precision,
        bytes: spec.bytes,
        error: error.message,
      });
    } finally {
      // One variant loaded at a time: eight models side by side would hold all their weights at once, and
      // LiteRT.js on WebGPU hung compiling a third model while two were loaded (SwiftShader, 2.5.3).
      unloadVariant(modelId, variant);
    }
  }
  progress({ done: total, total, label: "done" });
  return rows;
}

/** The self-test's jobs: each tfjs variant on each asked backend available here, each tflite variant once. */
async function selfTestJobs(manifest, ids, backends) {
  const tfjsBackends = (await tfjsRuntime.availableBackends()).filter((name) => backends.includes(name));
  // .tflite variants on LiteRT.js: wasm always, webgpu where there is an adapter and webgpu is asked for.
  const litertGpu = backends.includes("webgpu") && (await litertRuntime.features()).webgpu;
  const litertBackends = litertGpu ? ["wasm", "webgpu"] : ["wasm"];
  const jobs = [];
  for (const variant of ids) {
    const spec = variantOf(manifest, variant);
    if (spec.target === "tfjs") for (const backend of tfjsBackends) jobs.push({ variant, spec, backend });
    else for (const backend of litertBackends) jobs.push({ variant, spec, backend });
  }
  return jobs;
}

/** A tfjs variant on its parity fixture: {actual, expected, samples, tolerance}. */
async function tfjsParity(modelId, variant, spec, backend) {
  const fixture = await fetchExportJson(modelId, spec.parity);
  const inputs = decodeArray(fixture.inputs);
  const expected = decodeArray(fixture.outputs);
  const entry = await ensureLoaded(modelId, variant, backend);
  const actual = await tfjsRuntime.predict(entry.model, inputs.data, inputs.shape);
  return {
    actual,
    expected: expected.data,
    samples: inputs.shape[0],
    tolerance: tfjsRuntime.TOLERANCE[backend],
    ranOn: entry.backend,
  };
}

/** A tflite variant on its parity fixture: {actual, expected, samples, tolerance}. */
async function tfliteParity(modelId, variant, spec, backend) {
  // The browser-facing file's own fixture (float32 in and out), from the Python interpreter on that file.
  const fixture = await fetchExportJson(modelId, browserFilesOf(spec).parity);
  const inputs = decodeArray(fixture.inputs);
  const expected = decodeArray(fixture.outputs);
  const n = inputs.shape[0];
  const entry = await ensureLoaded(modelId, variant, backend);
  const actual = await litertRuntime.predict(entry.model, inputs.data, n);
  return {
    actual,
    expected: expected.data,
    samples: n,
    tolerance: litertRuntime.tolerance(spec, entry.backend),
    ranOn: entry.backend, // LiteRT.js runs a model WebGPU cannot run whole on wasm: say so
  };
}

/** One self-test row: the max abs diff within the runtime's bound on this backend, and identical top-1. */
async function selfTestRow(modelId, { variant, spec, backend }, classes) {
  const row = {
    variant,
    runtime: runtimeOf(spec), // "tfjs" | "litert"
    backend,
    maxAbsDiff: null,
    top1: null,
    pass: false,
    error: null,
  };
  try {
    const parity = spec.target === "tfjs" ? tfjsParity : tfliteParity;
    const { actual, expected, samples, tolerance, ranOn } = await parity(modelId, variant, spec, backend);
    row.tolerance = tolerance;
    row.ranOn = ranOn;
    row.maxAbsDiff = maxAbsDiff(actual, expected);
    row.top1 = agreement(argmaxRows(actual, classes), argmaxRows(expected, classes));
    row.samples = samples;
    row.pass = row.maxAbsDiff <= row.tolerance && row.top1 === 1;
  } catch (error) {
    if (error.name === "AbortError") throw error;
    row.error = error.message;
  }
  return row;
}

/**
 * [{variant, runtime, backend, ranOn, maxAbsDiff, tolerance, top1, samples, pass, error}], one per variant and
 * backend. `backends`: the tfjs backends to test (default: every one available here, webgpu included).
 */
async function selfTest({ modelId, backends = null, variants = null }, { progress, signal }) {
  const manifest = await manifestOf(modelId);
  const ids = variants || variantIds(manifest);
  const jobs = await selfTestJobs(manifest, ids, backends || (await tfjsRuntime.availableBackends()));
  const classes = classesOf(manifest);
  const rows = [];
  for (const [index, job] of jobs.entries()) {
    checkAborted(signal);
    progress({ done: index, total: jobs.length, label: `${job.variant} on ${job.backend}` });
    rows.push(await selfTestRow(modelId, job, classes));
    // Each variant is freed after its last row (see compare): the next prediction loads it again.
    if (jobs[index + 1]?.variant !== job.variant) unloadVariant(modelId, job.variant);
  }
  progress({ done: jobs.length, total: jobs.length, label: "done" });
  return rows;
}

export const diagnosticsHandlers = { compare, selfTest };
