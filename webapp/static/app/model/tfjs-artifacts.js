// A TFJS layers model's in-memory artifacts ({modelTopology, weightSpecs, weightData}) from its files, once
// they are checked (app/model/integrity.js): tfjs then loads them with tf.io.fromMemory and fetches nothing
// itself. The same layout tf.io.http reads: weight groups in order, each group's shards in order. No tfjs.
import { concatBytes } from "./codec.js";

function parent(path) {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
}

/** files: {path -> Uint8Array} (fetchVariantFiles); entry: the model.json path. */
export function layersArtifacts(files, entry) {
  const model = JSON.parse(new TextDecoder().decode(files.get(entry)));
  const groups = model.weightsManifest || [];
  const shards = groups.flatMap((group) =>
    group.paths.map((shard) => {
      const path = parent(entry) + shard;
      // model.json passed its check, so a shard it names but the manifest lacks is an export's own fault.
      if (!files.has(path)) throw new Error(`${entry} names ${shard}, which the manifest does not list`);
      return files.get(path);
    }),
  );
  return {
    modelTopology: model.modelTopology,
    weightSpecs: groups.flatMap((group) => group.weights),
    weightData: concatBytes(shards).buffer,
    format: model.format,
    generatedBy: model.generatedBy,
    convertedBy: model.convertedBy,
    trainingConfig: model.trainingConfig,
    userDefinedMetadata: model.userDefinedMetadata,
  };
}
