// The served exports: /api/models and each export's manifest (docs/EXPORT_FORMAT.md). The page and
// the worker both read them: no DOM, no tfjs.

/** Fetches JSON, with the URL in the error message. */
export async function fetchJson(url, init) {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** @returns {Promise<{models: {id: string, manifest: string, report: string}[], default: string}>} */
export function listModels() {
  return fetchJson("/api/models");
}

export function modelBase(modelId) {
  return `/models/${encodeURIComponent(modelId)}/`;
}

export function modelUrl(modelId, path) {
  return modelBase(modelId) + path.split("/").map(encodeURIComponent).join("/");
}

export async function loadManifest(modelId) {
  const manifest = await fetchJson(modelUrl(modelId, "manifest.json"));
  if (manifest.format !== "edgeship-export") throw new Error(`${modelId}: not an edgeship export`);
  return manifest;
}

export async function loadReport(modelId) {
  try {
    return await fetchJson(modelUrl(modelId, "report.json"));
  } catch {
    return null;
  }
}

/** Variant ids in display order: TFJS first, then TFLite, each from the widest precision down. */
export function variantIds(manifest) {
  const order = ["fp32", "fp16", "dynamic-int8", "int8", "qat"];
  const rank = (id) => {
    const v = manifest.variants[id];
    return (v.target === "tfjs" ? 0 : 10) + Math.max(0, order.indexOf(v.precision));
  };
  return Object.keys(manifest.variants).sort((a, b) => rank(a) - rank(b));
}

/** The float32 variant other variants are compared with: TFLite fp32 if exported, else TFJS fp32. */
export function referenceVariant(manifest) {
  for (const id of ["tflite-fp32", "tfjs-fp32"]) if (manifest.variants[id]) return id;
  return variantIds(manifest)[0];
}

export function labelsOf(manifest) {
  const classes = manifest.output.shape[manifest.output.shape.length - 1];
  return manifest.labels && manifest.labels.length === classes
    ? manifest.labels
    : Array.from({ length: classes }, (_, i) => String(i));
}

/** Number of input values per sample. */
export function inputSize(manifest) {
  return manifest.input.shape.slice(1).reduce((a, b) => a * b, 1);
}
