// What the page remembers about backends, in localStorage: the backend the user picked in the inference view
// (any runtime, or "auto"), and the backend "auto" measured fastest for each model's variant. The inference
// view, the camera and fine-tuning read the same choice, and ui/engine-start.js hands it to the engine's
// warm-up. No imports: engine-start.js loads this before anything else.

export const BACKEND_KEY = "edgeship.backend";
const AUTO_PREFIX = "edgeship.auto-backend.";

/** The localStorage key of the "auto" pick for `variant` of `modelId`. */
export const autoKey = (modelId, variant) => `${AUTO_PREFIX}${modelId}.${variant}`;

/** {preferred, remembered}: the user's pick and every remembered "auto" pick, by `${modelId}.${variant}`. */
export function rememberedBackends() {
  const remembered = {};
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (key && key.startsWith(AUTO_PREFIX))
      remembered[key.slice(AUTO_PREFIX.length)] = localStorage.getItem(key);
  }
  return { preferred: localStorage.getItem(BACKEND_KEY) || "auto", remembered };
}
