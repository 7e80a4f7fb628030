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
import * as tfliteRuntime from "./runtimes/tflite.js";
import { ensureLoaded, loadedEntry, loadVariant, manifestOf, unloadVariant, variantOf } from "./variants.js";

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
    }
  }
  progress({ done: total, total, label: "done" });
  return rows;
}

/** [{variant, runtime, backend, maxAbsDiff, tolerance, top1, samples, pass, error}], one per variant and backend. */
async function selfTest({ modelId, backends = tfjsRuntime.BACKENDS, variants = null }, { progress, signal }) {
  const manifest = await manifestOf(modelId);
  const ids = variants || variantIds(manifest);
  const jobs = [];
  for (const variant of ids) {
    const spec = variantOf(manifest, variant);
    if (spec.target === "tfjs") for (const backend of backends) jobs.push({ variant, spec, backend });
    else jobs.push({ variant, spec, backend: "tflite" });
  }
  const classes = classesOf(manifest);
  const rows = [];
  for (const [index, { variant, spec, backend }] of jobs.entries()) {
    checkAborted(signal);
    progress({ done: index, total: jobs.length, label: `${variant} on ${backend}` });
    const row = {
      variant,
      runtime: spec.target,
      backend,
      maxAbsDiff: null,
      top1: null,
      pass: false,
      error: null,
    };
    try {
      const fixture = await fetchExportJson(modelId, spec.parity);
      const inputs = decodeArray(fixture.inputs);
      const expected = decodeArray(fixture.outputs);
      const n = inputs.shape[0];
      const entry = await ensureLoaded(modelId, variant, backend);
      let actual;
      if (spec.target === "tfjs") {
        row.tolerance = tfjsRuntime.TOLERANCE[backend];
        actual = await tfjsRuntime.predict(entry.model, inputs.data, inputs.shape);
      } else {
        // The fixture holds the raw tensors (int8 for int8 models): fed and compared as they are.
        row.tolerance =
          expected.dtype === "float32" ? tfliteRuntime.TOLERANCE.float : tfliteRuntime.TOLERANCE.int8;
        actual = tfliteRuntime.predict(entry.model, inputs.data, n, expected.dtype);
      }
      row.maxAbsDiff = maxAbsDiff(actual, expected.data);
      row.top1 = agreement(argmaxRows(actual, classes), argmaxRows(expected.data, classes));
      row.samples = n;
      row.pass = row.maxAbsDiff <= row.tolerance && row.top1 === 1;
    } catch (error) {
      if (error.name === "AbortError") throw error;
      row.error = error.message;
    }
    rows.push(row);
  }
  progress({ done: jobs.length, total: jobs.length, label: "done" });
  return rows;
}

export const diagnosticsHandlers = { compare, selfTest };
