// The engine's warm-up: the worker starts with the page's first script (app/ui/engine-start.js) and, while
// the page is still loading its views, loads what the first prediction needs: the default export's default
// variant (the inference view's first pick) on the backend the page will ask for, its runtime (tfjs or
// LiteRT.js) and its checked files. The page's own calls queue behind it (app/shared/bridge.js) and find the
// model loaded. A wrong guess costs only time. Worker only.
import { listModels } from "../shared/catalog.js";
import { loadVariant, manifestOf, rememberManifest } from "./variants.js";

/**
 * hint: {preferred, remembered} from the page's storage: the backend the user picked ("auto" or a name) and
 * the "auto" picks it remembers, by `${modelId}.${variant}`. Without a hint, "auto".
 */
export async function warmUp(hint) {
  // What the worker fetched before this module loaded (app/worker/engine.worker.js), else fetched now.
  const early = self.edgeshipEarly && (await self.edgeshipEarly.catch(() => null));
  const modelId = early ? early.modelId : (await listModels()).default;
  if (!modelId) return;
  if (early && early.manifest) rememberManifest(modelId, early.manifest);
  const manifest = await manifestOf(modelId);
  const variant = manifest.default_variant;
  if (!variant || !manifest.variants[variant]) return;
  const preferred = (hint && hint.preferred) || "auto";
  const remembered = (hint && hint.remembered && hint.remembered[`${modelId}.${variant}`]) || null;
  await loadVariant({ modelId, variant, backend: preferred, remembered }, () => {});
}
