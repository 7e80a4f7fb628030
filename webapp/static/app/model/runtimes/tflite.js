// .tflite files through @tensorflow/tfjs-tflite (TFLite + XNNPACK compiled to WebAssembly; threads when the
// page is cross-origin isolated). Uses the globals `tf` and `tflite`. Every tensor made here is disposed here.
/* global tf, tflite */

/** Parity bounds against the Python interpreter's outputs for the same file: int8 exact, float 1e-6. */
export const TOLERANCE = { int8: 0, float: 1e-6 };

let configured = false;

function configure() {
  if (configured) return;
  tflite.setWasmPath(new URL("/vendor/tflite/", self.location.href).href);
  configured = true;
}

export async function features() {
  configure();
  return tflite.getWasmFeatures();
}

/** Loads a model from its bytes. */
export async function load(bytes) {
  configure();
  const threads = Math.max(1, Math.min(4, (self.navigator && self.navigator.hardwareConcurrency) || 1));
  const options = self.crossOriginIsolated ? { numThreads: threads } : { numThreads: 1 };
  return tflite.loadTFLiteModel(bytes, options);
}

/** The model's input and output dtypes and per-sample shapes (TFLite runs one sample at a time here). */
export function signature(model) {
  const [input] = model.inputs;
  const [output] = model.outputs;
  return { inputShape: input.shape, outputShape: output.shape };
}

// tfjs-tflite warns on every call that it converts the int32 tensor (tfjs has no int8) to int8: expected here.
function quietly(fn) {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return fn();
  } finally {
    console.warn = warn;
  }
}

/**
 * Runs `count` samples one by one. `input` is the raw tensor data for the model's input type
 * (Int8Array for int8 inputs, Float32Array otherwise); returns the raw output data of the same kind.
 */
export function predict(model, input, count, outputDtype) {
  const { inputShape, outputShape } = signature(model);
  const inPer = input.length / count;
  const outPer = outputShape.slice(1).reduce((a, b) => a * b, 1);
  const integer = !(input instanceof Float32Array);
  const out = outputDtype === "int8" ? new Int8Array(count * outPer) : new Float32Array(count * outPer);
  for (let i = 0; i < count; i += 1) {
    const sample = input.subarray(i * inPer, (i + 1) * inPer);
    const result = tf.tidy(() => {
      const x = integer
        ? tf.tensor(Int32Array.from(sample), [1, ...inputShape.slice(1)], "int32")
        : tf.tensor(sample, [1, ...inputShape.slice(1)], "float32");
      return quietly(() => model.predict(x));
    });
    try {
      out.set(result.dataSync(), i * outPer);
    } finally {
      result.dispose();
    }
  }
  return out;
}

export function dispose(model) {
  // tfjs-tflite 0.0.1-alpha.10 has no public way to free the interpreter; dropping the reference lets the
  // wasm heap reuse it.
  void model;
}

/** real -> int8 with the tensor's (scale, zero_point). */
export function quantize(values, { scale, zero_point: zeroPoint }) {
  const out = new Int8Array(values.length);
  for (let i = 0; i < values.length; i += 1) {
    out[i] = Math.max(-128, Math.min(127, Math.round(values[i] / scale + zeroPoint)));
  }
  return out;
}

/** int8 -> real. */
export function dequantize(values, { scale, zero_point: zeroPoint }) {
  return Float32Array.from(values, (q) => scale * (q - zeroPoint));
}
