// The Inference view's camera: each frame goes through the model's own preprocessing (frame-input.js) to
// the variant and backend picked in the view, and the panel shows the live top-k and the frames per second
// the model keeps up with. The pad, its preview and the view's own result stay the pad's.
import { toProbabilities } from "../shared/metrics.js";
import { autoKey } from "./backend-memory.js";
import { CameraControls } from "./camera.js";
import { $, formatMs, h } from "./dom.js";
import { frameToInput } from "./frame-input.js";
import { reportError } from "./toast.js";

const TOP_K = 3;

/** The k largest probabilities, largest first: [{index, probability}]. */
export function topK(probabilities, k = TOP_K) {
  return Array.from(probabilities, (probability, index) => ({ index, probability }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, k);
}

export class CameraPanel {
  /** view: the InferView (model, variant, backend, specOf, labelsFor, engine, pad). */
  constructor(view) {
    this.view = view;
    this.frames = 0;
    this.lastInput = null; // the model input of the last frame predicted (Float32Array)
    this.controls = new CameraControls("camera", {
      onFrame: (video) => this.predictFrame(video),
      onError: (error) => reportError(error, "camera"),
    });
  }

  async predictFrame(video) {
    const { view } = this;
    const prep = view.model && view.model.manifest.preprocessing;
    if (!prep || prep.kind !== "image") return;
    const { id } = view.model;
    const variant = view.variant;
    const spec = view.specOf(variant);
    const input = frameToInput(video, prep, view.pad.canvas);
    const result = await view.engine.predict({
      modelId: id,
      variant,
      backend: view.backend,
      remembered: localStorage.getItem(autoKey(id, variant)),
      input,
    });
    if (result.measured && spec.target === "tfjs") localStorage.setItem(autoKey(id, variant), result.backend);
    this.frames += 1;
    this.lastInput = input;
    this.render(view.labelsFor(variant), result, variant);
  }

  render(labels, result, variant) {
    const probabilities = toProbabilities(result.scores);
    const best = topK(probabilities, Math.min(TOP_K, labels.length));
    $("#camera-topk").replaceChildren(
      ...best.map(({ index, probability }) =>
        h(
          "li",
          { dataset: { label: labels[index] } },
          h("span", { className: "topk-label" }, labels[index]),
          h("span", { className: "muted" }, ` ${(100 * probability).toFixed(1)} %`),
        ),
      ),
    );
    const fps = this.controls.camera.rate.value;
    $("#camera-fps").textContent =
      `${fps ? fps.toFixed(1) : "–"} fps · ${variant}: ${formatMs(result.latencyMs)} per frame`;
    const panel = $("#camera-panel");
    panel.dataset.frames = String(this.frames);
    panel.dataset.top1 = String(best[0].index);
    panel.dataset.variant = variant;
    panel.dataset.backend = result.backend;
    panel.dataset.scores = JSON.stringify(Array.from(result.scores));
  }
}
