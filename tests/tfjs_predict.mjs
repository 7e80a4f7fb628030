// Load a TFJS layers model.json from disk with @tensorflow/tfjs (cpu backend, no tfjs-node) and print its
// predictions as JSON. Used by tests/test_keras_compat.py to prove an exported model loads and predicts.
//
// usage: node tests/tfjs_predict.mjs MODEL_JSON INPUTS_JSON
//   INPUTS_JSON: [{"shape": [...], "data": [...]} | {"shape": [...], "file": "x.bin"}, ...], one entry per
//   model input; "file" is raw little-endian float32, relative to INPUTS_JSON.
// stdout: [{"shape": [...], "data": [...]}, ...], one entry per model output.
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readArtifacts } from "./tfjs_files.mjs";

function readFloat32(file) {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

async function main() {
  const [modelJsonPath, inputsPath] = process.argv.slice(2);
  await tf.setBackend("cpu");
  const model = await tf.loadLayersModel(
    { load: async () => readArtifacts(modelJsonPath) },
    {
      strict: true,
    },
  );
  const specs = JSON.parse(fs.readFileSync(inputsPath, "utf8"));
  const inputs = specs.map((spec) => {
    const data = spec.file ? readFloat32(path.join(path.dirname(inputsPath), spec.file)) : spec.data;
    return tf.tensor(data, spec.shape, "float32");
  });
  const outputs = tf.tidy(() => {
    const result = model.predict(inputs.length === 1 ? inputs[0] : inputs);
    return (Array.isArray(result) ? result : [result]).map((t) => ({
      shape: t.shape,
      data: Array.from(t.dataSync()),
    }));
  });
  tf.dispose(inputs);
  model.dispose();
  process.stdout.write(JSON.stringify(outputs));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
