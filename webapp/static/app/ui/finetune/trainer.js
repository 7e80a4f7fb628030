// Training controls: start model, layers to train, hyper-parameters, backend; Train / Cancel, a progress bar
// and a live loss/accuracy chart. Training itself runs in the engine worker, so this page stays responsive.
import { finetunedVariant } from "../../shared/finetuned-id.js";
import { $, h } from "../dom.js";
import { drawLines } from "../linechart.js";
import { reportError } from "../toast.js";

const number = (selector) => Number($(selector).value);

export class TrainPanel {
  constructor(engine, samples, { onSaved }) {
    this.engine = engine;
    this.samples = samples;
    this.onSaved = onSaved;
    this.modelId = null;
    this.controller = null;
    this.curves = { loss: [], accuracy: [] };
    this.points = 0;
    this.drawPending = false;
    $("#ft-train-button").addEventListener("click", () => this.train().catch(() => {}));
    $("#ft-cancel").addEventListener("click", () => this.controller && this.controller.abort());
    $("#ft-start").addEventListener("change", () => this.setup().catch(reportError));
  }

  get view() {
    return $("#view-finetune");
  }

  /** The start choices: the export's float32 TFJS model and the models fine-tuned from it here. */
  setModel(modelId, manifest, saved) {
    this.modelId = modelId;
    this.manifest = manifest;
    this.setSaved(saved);
    return this.setup();
  }

  setSaved(saved) {
    const select = $("#ft-start");
    const previous = select.value;
    select.replaceChildren(
      h("option", { value: "export" }, `${this.manifest.name}: exported tfjs-fp32`),
      ...saved.map((item) => h("option", { value: finetunedVariant(item.key) }, `${item.name} (saved here)`)),
    );
    if ([...select.options].some((option) => option.value === previous)) select.value = previous;
  }

  async setup() {
    const start = $("#ft-start").value || "export";
    const info = await this.engine.finetuneSetup({ modelId: this.modelId, start });
    $("#ft-layers").replaceChildren(
      ...info.layers.map((layer) =>
        h(
          "label",
          { className: "check" },
          h("input", { type: "checkbox", name: "ft-layer", value: layer.name, checked: layer.head }),
          ` ${layer.name} `,
          h(
            "span",
            { className: "muted small" },
            `${layer.className}, ${layer.params.toLocaleString()} weights`,
          ),
          layer.head ? h("span", { className: "tag" }, "head") : null,
        ),
      ),
    );
    $("#ft-name").value = `${info.startName} fine-tuned`;
    this.samples.setBaseLabels(info.labels);
    return info;
  }

  trainableLayers() {
    return [...document.querySelectorAll('input[name="ft-layer"]:checked')].map((box) => box.value);
  }

  setRunning(running) {
    $("#ft-train-button").disabled = running;
    $("#ft-start").disabled = running;
    $("#ft-cancel").hidden = !running;
  }

  onProgress(step) {
    $("#ft-progress").value = step.total ? step.done / step.total : 0;
    if (step.kind === "batch") {
      this.curves.loss.push(step.loss);
      this.curves.accuracy.push(step.accuracy);
      this.points = step.batches * Number($("#ft-epochs").value);
      const acc = step.accuracy === undefined ? "" : ` · accuracy ${(100 * step.accuracy).toFixed(1)} %`;
      $("#ft-status").textContent =
        `Training on ${step.backend}: epoch ${step.epoch + 1}/${step.total}, batch ${step.batch + 1}/` +
        `${step.batches} · loss ${step.loss.toFixed(4)}${acc}`;
      this.scheduleDraw();
    } else if (step.label) {
      $("#ft-status").textContent = `Training: ${step.label}`;
    }
    if (step.backend) $("#ft-backend-used").textContent = `running on ${step.backend}`;
  }

  scheduleDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      drawLines(
        $("#ft-chart"),
        [
          { label: "loss", colour: "#c0392b", values: this.curves.loss },
          { label: "accuracy", colour: "#1b4f8a", values: this.curves.accuracy, max: 1, axis: "right" },
        ],
        { points: this.points, xLabel: "batches" },
      );
    });
  }

  async train() {
    const { inputs, targets, labels } = this.samples.trainingSet();
    if (!targets.length) {
      reportError(new Error("add labelled samples first"), "fine-tune");
      return null;
    }
    const trainable = this.trainableLayers();
    if (!trainable.length) {
      reportError(new Error("choose at least one layer to train"), "fine-tune");
      return null;
    }
    this.controller = new AbortController();
    this.curves = { loss: [], accuracy: [] };
    this.setRunning(true);
    this.view.dataset.state = "training";
    $("#ft-status").textContent = "Starting…";
    try {
      const summary = await this.engine.train(
        {
          modelId: this.modelId,
          start: $("#ft-start").value || "export",
          labels,
          trainable,
          epochs: number("#ft-epochs"),
          batchSize: number("#ft-batch"),
          learningRate: number("#ft-lr"),
          backend: $("#ft-backend").value,
          inputs,
          targets,
          name: $("#ft-name").value.trim() || undefined,
        },
        { onProgress: (step) => this.onProgress(step), signal: this.controller.signal },
      );
      this.scheduleDraw();
      const last = summary.history.accuracy[summary.history.accuracy.length - 1];
      const how =
        `${summary.epochs} epochs on ${summary.backend}, ${Math.round(summary.samplesPerSecond)} samples/s, ` +
        `final training accuracy ${(100 * last).toFixed(1)} %.`;
      // `unsaved`: trained, but storage refused it (ui/finetune/unsaved.js says why and offers a retry).
      $("#ft-status").textContent = summary.unsaved
        ? `Trained "${summary.name}" but NOT saved: ${how}`
        : `Saved "${summary.name}": ${how}`;
      Object.assign(this.view.dataset, {
        state: summary.unsaved ? "unsaved" : "done",
        key: summary.key,
        backend: summary.backend,
        samplesPerSecond: String(summary.samplesPerSecond),
      });
      await this.onSaved(summary);
      return summary;
    } catch (error) {
      const cancelled = error.name === "AbortError";
      this.view.dataset.state = cancelled ? "cancelled" : "failed";
      $("#ft-status").textContent = cancelled ? "Cancelled: nothing was saved." : `Failed: ${error.message}`;
      reportError(error, "fine-tune");
      throw error;
    } finally {
      this.setRunning(false);
      this.controller = null;
    }
  }
}
