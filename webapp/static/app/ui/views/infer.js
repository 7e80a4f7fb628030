// Inference view: draw or upload (image models) or type numbers (numeric models), pick a variant and a
// backend (or a model fine-tuned in this browser: app/shared/finetuned-id.js), see class probabilities and latency.
// Talks to the engine only through the bridge.
import { inputSize, labelsOf, variantIds } from "../../shared/catalog.js";
import { finetunedVariant } from "../../shared/finetuned-id.js";
import { toProbabilities } from "../../shared/metrics.js";
import { renderBars } from "../chart.js";
import { $, formatMs, h } from "../dom.js";
import { DrawPad, drawPreview } from "../drawpad.js";
import { imageToInput, numericToInput } from "../preprocess.js";
import { withProgress } from "../progress.js";
import { reportError } from "../toast.js";

const BACKEND_KEY = "edgeship.backend";
const autoKey = (modelId, variant) => `edgeship.auto-backend.${modelId}.${variant}`;

export class InferView {
  constructor(engine) {
    this.engine = engine;
    this.model = null; // {id, manifest}
    this.finetuned = []; // summaries of the models fine-tuned here from this export (app/shared/store.js)
    this.pad = new DrawPad($("#draw-canvas"), { onStroke: () => this.predict().catch(reportError) });
    this.lastResult = null;
    $("#clear-button").addEventListener("click", () => {
      this.pad.clear();
      this.showEmpty();
    });
    $("#predict-button").addEventListener("click", () => this.predict().catch(reportError));
    $("#upload-input").addEventListener("change", async (event) => {
      const [file] = event.target.files;
      event.target.value = "";
      if (!file) return;
      try {
        await this.pad.drawImage(file);
        await this.predict();
      } catch (error) {
        reportError(error, "image");
      }
    });
    $("#numeric-input").addEventListener("submit", (event) => {
      event.preventDefault();
      this.predict().catch(reportError);
    });
    const backend = $("#backend-select");
    backend.value = localStorage.getItem(BACKEND_KEY) || "auto";
    backend.addEventListener("change", () => {
      localStorage.setItem(BACKEND_KEY, backend.value);
      this.changed();
    });
    $("#variant-select").addEventListener("change", () => this.changed());
  }

  renderVariants(preferred) {
    const { manifest } = this.model;
    const select = $("#variant-select");
    const exported = variantIds(manifest).map((variant) => {
      const spec = manifest.variants[variant];
      const label = `${variant} (${spec.target === "tfjs" ? "TFJS" : "TFLite"}, ${spec.precision})`;
      return h("option", { value: variant }, label);
    });
    // `unsaved`: storage refused it; it runs from the worker's memory until this tab closes.
    const saved = this.finetuned.map((item) =>
      h(
        "option",
        { value: finetunedVariant(item.key) },
        `${item.name} (TFJS, fine-tuned here${item.unsaved ? ", not saved" : ""})`,
      ),
    );
    select.replaceChildren(
      ...exported,
      saved.length ? h("optgroup", { label: "Fine-tuned in this browser" }, ...saved) : null,
    );
    const values = [...select.options].map((option) => option.value);
    const fallback = manifest.variants[manifest.default_variant] ? manifest.default_variant : values[0];
    select.value = values.includes(preferred) ? preferred : fallback;
  }

  /** The models fine-tuned here from this export, listed after the exported variants. */
  setFinetuned(items) {
    const current = this.variant;
    this.finetuned = items;
    if (!this.model) return;
    this.renderVariants(current);
    if (current !== this.variant) this.showEmpty();
  }

  /** Selects a fine-tuned model (from the Fine-tune view's "Use"). */
  useFinetuned(key) {
    $("#variant-select").value = finetunedVariant(key);
    this.showEmpty();
    this.changed();
  }

  specOf(variant) {
    const spec = this.model.manifest.variants[variant];
    return spec || { target: "tfjs", precision: "fp32", finetuned: true };
  }

  labelsFor(variant) {
    const item = this.finetuned.find((candidate) => finetunedVariant(candidate.key) === variant);
    return item ? item.labels : labelsOf(this.model.manifest);
  }

  setModel(id, manifest) {
    this.model = { id, manifest };
    this.finetuned = this.finetuned.filter((item) => item.baseId === id);
    this.renderVariants(null);
    const prep = manifest.preprocessing || { kind: "numeric" };
    const image = prep.kind === "image";
    $("#image-input").hidden = !image;
    $("#numeric-input").hidden = image;
    if (image) {
      this.pad.setInk(prep.ink);
      $("#image-input h2").textContent =
        prep.ink === "low" ? "Draw (dark on light) or upload" : "Draw (light on dark) or upload";
    } else {
      const size = prep.size || inputSize(manifest);
      $("#numeric-help").textContent = `${size} numbers, separated by commas, spaces or new lines.`;
      $("#numeric-values").value = Array(size).fill("0").join(", ");
    }
    this.showEmpty();
    this.updateBackendNote();
  }

  get variant() {
    return $("#variant-select").value;
  }

  get backend() {
    return $("#backend-select").value;
  }

  updateBackendNote(extra = "") {
    const spec = this.model && this.specOf(this.variant);
    const tflite = spec && spec.target === "tflite";
    $("#backend-select").disabled = Boolean(tflite);
    $("#backend-note").textContent = tflite
      ? "TFLite variants run in tfjs-tflite (TFLite + XNNPACK in WebAssembly)."
      : extra;
  }

  changed() {
    this.updateBackendNote();
    if (this.lastResult) this.predict().catch(reportError);
  }

  /** No bars, no top-1: state "empty", or "error" when `variant` failed (its error is in a toast). */
  clearResult(state, variant = null) {
    const labels = this.labelsFor(this.variant);
    renderBars($("#chart"), labels, new Float32Array(labels.length));
    $("#top1-label").textContent = "–";
    $("#top1-prob").textContent = "";
    $("#latency").textContent = "";
    const box = $("#result");
    box.dataset.state = state;
    for (const key of ["scores", "top1", "backend", "variant"]) delete box.dataset[key];
    if (variant) box.dataset.variant = variant;
  }

  showEmpty() {
    this.lastResult = null;
    this.clearResult("empty");
    const prep = this.model.manifest.preprocessing;
    if (prep && prep.kind === "image") {
      const blank = new Float32Array(prep.height * prep.width * prep.channels);
      drawPreview($("#preview-canvas"), blank.fill(prep.ink === "low" ? prep.range[1] : prep.range[0]), prep);
    }
  }

  /** The model input from the canvas or the numeric form (Float32Array). */
  currentInput() {
    const { manifest } = this.model;
    const prep = manifest.preprocessing || { kind: "numeric" };
    if (prep.kind !== "image") {
      const values = $("#numeric-values")
        .value.split(/[\s,;]+/)
        .filter(Boolean);
      return numericToInput(values.map(Number), prep.size || inputSize(manifest));
    }
    const { data, width, height } = this.pad.pixels();
    const input = imageToInput(data, width, height, prep, { fit: true, matchInk: this.pad.uploaded });
    drawPreview($("#preview-canvas"), input, prep);
    return input;
  }

  async predict() {
    if (!this.model) return null;
    const { id } = this.model;
    const input = this.currentInput();
    const variant = this.variant;
    const spec = this.specOf(variant);
    const remembered = localStorage.getItem(autoKey(id, variant));
    let result;
    try {
      result = await withProgress(`Running ${variant}`, ({ onProgress, signal }) =>
        this.engine.predict(
          { modelId: id, variant, backend: this.backend, remembered, input },
          { onProgress, signal },
        ),
      );
    } catch (error) {
      // The bars of an earlier run must not pass for this variant's (a refused file, a failed backend).
      // lastResult stays: picking another variant runs it at once, as after a success.
      if (error.name !== "AbortError") this.clearResult("error", variant);
      throw error;
    }
    if (result.measured && spec.target === "tfjs") {
      localStorage.setItem(autoKey(id, variant), result.backend);
    }
    const labels = this.labelsFor(variant);
    const probabilities = toProbabilities(result.scores);
    const best = renderBars($("#chart"), labels, probabilities);
    $("#top1-label").textContent = labels[best];
    $("#top1-prob").textContent = `${(100 * probabilities[best]).toFixed(1)} %`;
    const where = spec.target === "tfjs" ? `tfjs ${result.backend}` : "tfjs-tflite";
    $("#latency").textContent = `${variant} on ${where}: ${formatMs(result.latencyMs)}`;
    if (spec.target === "tfjs" && this.backend === "auto") {
      const measured = result.measured
        ? Object.entries(result.measured)
            .map(([name, ms]) => `${name} ${ms === null ? "failed" : formatMs(ms)}`)
            .join(", ")
        : "remembered";
      this.updateBackendNote(`auto → ${result.backend} (${measured})`);
    }
    const box = $("#result");
    box.dataset.state = "done";
    box.dataset.top1 = String(best);
    box.dataset.variant = variant;
    box.dataset.backend = result.backend;
    box.dataset.scores = JSON.stringify(Array.from(result.scores));
    this.lastResult = result;
    return { ...result, top1: best, probabilities };
  }
}
