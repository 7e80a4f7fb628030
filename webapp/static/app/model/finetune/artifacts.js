// TFJS layers-model artifacts ({modelTopology, weightSpecs, weightData}) as plain data: which layers have
// weights, and the classifier head grown by new classes with the old weights kept. No DOM, no tfjs.
import { concatBytes } from "../codec.js";

/** The layer list of a Sequential or functional topology. */
function layersOf(topology) {
  const config = topology && (topology.config || topology.model_config?.config);
  if (!config || !Array.isArray(config.layers)) throw new Error("not a layers-model topology");
  return config.layers;
}

function layerName(layer) {
  return layer.name || (layer.config && layer.config.name);
}

/** The last Dense layer: the classifier head that fine-tuning retrains (and grows for new classes). */
export function headOf(topology) {
  const dense = layersOf(topology).filter((layer) => layer.class_name === "Dense");
  if (!dense.length) throw new Error("this model has no Dense layer to use as its classifier head");
  const layer = dense[dense.length - 1];
  return { name: layerName(layer), units: layer.config.units };
}

/** Layers that hold weights, in model order: [{name, className, params, head}]. */
export function weightedLayers(artifacts) {
  const params = new Map();
  for (const spec of artifacts.weightSpecs) {
    const owner = spec.name.slice(0, spec.name.lastIndexOf("/"));
    const count = spec.shape.reduce((a, b) => a * b, 1);
    params.set(owner, (params.get(owner) || 0) + count);
  }
  const head = headOf(artifacts.modelTopology).name;
  return layersOf(artifacts.modelTopology)
    .filter((layer) => params.has(layerName(layer)))
    .map((layer) => ({
      name: layerName(layer),
      className: layer.class_name,
      params: params.get(layerName(layer)),
      head: layerName(layer) === head,
    }));
}

/** weightData as one ArrayBuffer (tfjs 4 may hand over a list of buffers). */
export function joinWeightData(weightData) {
  return Array.isArray(weightData) ? concatBytes(weightData).buffer : weightData;
}

function checkFloat32(specs) {
  for (const spec of specs) {
    if (spec.dtype !== "float32" || spec.quantization) {
      throw new Error(`weight ${spec.name} is not plain float32: fine-tune from a float32 model`);
    }
  }
}

/**
 * The head grown to `classes` units: its kernel [in, units] gains zero columns and its bias zeros, so the
 * model computes the old classes exactly as before. Returns new artifacts (the input is not changed).
 */
export function growHead(artifacts, classes) {
  const topology = structuredClone(artifacts.modelTopology);
  const head = headOf(topology);
  if (classes === head.units) return { ...artifacts, weightData: joinWeightData(artifacts.weightData) };
  if (classes < head.units) throw new Error(`the head has ${head.units} classes; it cannot shrink`);
  checkFloat32(artifacts.weightSpecs);
  const layer = layersOf(topology).find((candidate) => layerName(candidate) === head.name);
  layer.config.units = classes;
  const source = new Float32Array(joinWeightData(artifacts.weightData));
  const parts = [];
  const specs = [];
  let offset = 0;
  for (const spec of artifacts.weightSpecs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    let values = source.subarray(offset, offset + count);
    offset += count;
    let shape = spec.shape;
    if (spec.name === `${head.name}/kernel` || spec.name === `${head.name}/bias`) {
      const rows = count / head.units;
      const grown = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r += 1) {
        grown.set(values.subarray(r * head.units, (r + 1) * head.units), r * classes);
      }
      values = grown;
      shape = [...spec.shape.slice(0, -1), classes];
    }
    parts.push(values);
    specs.push({ ...spec, shape });
  }
  const weights = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    weights.set(part, at);
    at += part.length;
  }
  return { ...artifacts, modelTopology: topology, weightSpecs: specs, weightData: weights.buffer };
}
