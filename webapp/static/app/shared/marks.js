// Performance marks of the first prediction's stages (read by bench/browser/timeline.mjs), each set once per
// page or worker: edgeship:runtime-ready (tfjs or LiteRT.js usable), edgeship:model-ready (first model
// loaded), edgeship:first-prediction (page: the first result shown).
export function markOnce(name) {
  if (!performance.getEntriesByName(name, "mark").length) performance.mark(name);
}
