// Load a TFJS layers model.json from disk with @tensorflow/tfjs (cpu backend) and print the modelTopology
// that its `model.save()` writes: the form a model fine-tuned in the browser comes back in.
//
// usage: node tests/tfjs_resave.mjs MODEL_JSON
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

async function main() {
  const modelJsonPath = process.argv[2];
  const modelJson = JSON.parse(fs.readFileSync(modelJsonPath, "utf8"));
  const weightSpecs = [];
  const shards = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths)
      shards.push(fs.readFileSync(path.join(path.dirname(modelJsonPath), shard)));
  }
  const all = Buffer.concat(shards);
  const artifacts = {
    modelTopology: modelJson.modelTopology,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
  await tf.setBackend("cpu");
  const model = await tf.loadLayersModel({ load: async () => artifacts }, { strict: true });
  let saved = null;
  await model.save({
    save: async (written) => {
      saved = written;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    },
  });
  model.dispose();
  process.stdout.write(JSON.stringify(saved.modelTopology));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
