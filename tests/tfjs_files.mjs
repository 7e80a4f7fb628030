// Reading a TFJS layers model from disk in node, shared by tests/tfjs_predict.mjs and tests/tfjs_read_weights.mjs:
// tfjs' own http/file IO handlers need a browser or tfjs-node.
import fs from "node:fs";
import path from "node:path";

/** The model artifacts (topology, weight specs, the shards joined) of a model.json and its shards. */
export function readArtifacts(modelJsonPath) {
  const modelJson = JSON.parse(fs.readFileSync(modelJsonPath, "utf8"));
  const dir = path.dirname(modelJsonPath);
  const weightSpecs = [];
  const shards = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) shards.push(fs.readFileSync(path.join(dir, shard)));
  }
  const all = Buffer.concat(shards);
  return {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}
