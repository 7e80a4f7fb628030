// Read a TFJS model.json's weights from disk with @tensorflow/tfjs (cpu backend, no tfjs-node) and print the
// values tfjs computes with, by name. Used by the tests to check edgeship's shards against the real consumer.
//
// usage: node tests/tfjs_read_weights.mjs MODEL_JSON
//   MODEL_JSON: a model.json with a "weightsManifest" (shard paths relative to it). With a "modelTopology",
//   the model is loaded with tf.loadLayersModel({strict: true}) and its variables are read back; without one
//   (a bare manifest), the shards are decoded with tf.io.decodeWeights, which is what loadLayersModel calls.
// stdout: {"NAME": {"dtype": "float32" | "int32", "shape": [...], "bytes": BASE64}, ...} in manifest order;
//   "bytes" is the little-endian typed array tfjs holds, so the values compare bit-exact (-0.0 included).
import * as tf from "@tensorflow/tfjs";
import { readArtifacts } from "./tfjs_files.mjs";

function describe(tensor) {
  const values = tensor.dataSync();
  return {
    dtype: tensor.dtype,
    shape: tensor.shape,
    bytes: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64"),
  };
}

async function readWeights(artifacts) {
  const byName = {};
  if (!artifacts.modelTopology) {
    const decoded = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
    for (const spec of artifacts.weightSpecs) byName[spec.name] = describe(decoded[spec.name]);
    return byName;
  }
  // The consumer's path: strict loading fails on a missing, extra or misshapen weight.
  const model = await tf.loadLayersModel({ load: async () => artifacts }, { strict: true });
  const variables = new Map(model.weights.map((w) => [w.originalName, w]));
  for (const spec of artifacts.weightSpecs) {
    const variable = variables.get(spec.name);
    if (variable === undefined) throw new Error(`the loaded model has no weight named ${spec.name}`);
    byName[spec.name] = describe(variable.read());
  }
  if (variables.size !== artifacts.weightSpecs.length) {
    throw new Error(`the model has ${variables.size} weights, the manifest ${artifacts.weightSpecs.length}`);
  }
  model.dispose();
  return byName;
}

async function main() {
  const [modelJsonPath] = process.argv.slice(2);
  await tf.setBackend("cpu");
  const byName = await readWeights(readArtifacts(modelJsonPath));
  process.stdout.write(JSON.stringify(byName));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
