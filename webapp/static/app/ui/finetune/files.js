// A saved fine-tuned model as files: the TFJS download (model.json + one weights file) and the parts of the
// "Convert for mobile" upload (docs/FINETUNE_API.md). Plain data, made on the page: no DOM.

/** A file-name-safe form of a model name. */
export function slug(name) {
  return (
    String(name)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60) || "model"
  );
}

/** The TFJS layers-model files, as tf.io.browserDownloads writes them: `<slug>.json`, `<slug>.weights.bin`. */
export function tfjsFiles({ summary, artifacts }) {
  const base = slug(summary.name);
  const weightsName = `${base}.weights.bin`;
  const modelJson = {
    format: artifacts.format || "layers-model",
    generatedBy: "edgeship (fine-tuned in the browser)",
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs }],
    userDefinedMetadata: { labels: summary.labels, baseId: summary.baseId, created: summary.created },
  };
  return [
    { name: `${base}.json`, type: "application/json", data: JSON.stringify(modelJson) },
    { name: weightsName, type: "application/octet-stream", data: artifacts.weightData },
  ];
}

/** The multipart parts of POST /api/models/<baseId>/finetuned. */
export function uploadParts({ summary, artifacts, samples }) {
  const model = {
    format: artifacts.format || "layers-model",
    modelTopology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs,
    samples: { shape: samples.shape },
    name: summary.name,
    labels: summary.labels,
  };
  return { model: JSON.stringify(model), weights: artifacts.weightData, samples: samples.data };
}

export function uploadUrl(baseId) {
  return `/api/models/${encodeURIComponent(baseId)}/finetuned`;
}
