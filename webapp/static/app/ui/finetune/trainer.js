// Training controls: start model, layers to train, hyper-parameters, backend; Train / Cancel, a progress bar,
// a live chart of training and validation accuracy (and loss), and after training the accuracy on the
// held-out samples with a confusion matrix. Training itself runs in the engine worker, so this page stays
// responsive.
import { finetunedVariant } from "../../shared/finetuned-id.js";
import { autoKey } from "../backend-memory.js";
import { $, h } from "../dom.js";
import { drawChart } from "../linechart.js";
import { reportError } from "../toast.js";
import { renderConfusion } from "./confusion.js";

const number = (selector) => Number($(selector).value);
const percent = (share) => `${(100 * share).toFixed(1)} %`;
const emptyCurves = () => ({ loss: [], accuracy: [], valAccuracy: [] });

export class TrainPanel {
  constructor(engine, samples, { onSaved }) {
    this.engine = engine;
    this.samples = samples;
    this.onSaved = onSaved;
    this.modelId = null;
    this.controller = null;
    this.curves = emptyCurves();
    this.epochs = 1;
    this.drawPending = false;
    $("#ft-train-button").addEventListener("click", () => this.train().catch(() => {}));
    $("#ft-cancel").addEventListener("click", () => this.controller && this.controller.abort());
    $("#ft-start").addEventListener("change", () => this.setup().catch(reportError));
    // webgpu trains like cpu (app/model/finetune/handlers.js): offered where this browser has an adapter.
    if (navigator.gpu) {
      navigator.gpu
        .requestAdapter()
        .then((adapter) => adapter && $("#ft-backend").append(h("option", { value: "webgpu" }, "webgpu")))
        .catch(() => {});
    }
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
      // Batches at fractional epochs: the chart moves during long epochs too.
      const at = step.epoch + (step.batch + 1) / step.batches;
      this.curves.loss.push([at, step.loss]);
      this.curves.accuracy.push([at, step.accuracy]);
      const acc = step.accuracy === undefined ? "" : ` · accuracy ${percent(step.accuracy)}`;
      const last = this.curves.valAccuracy[this.curves.valAccuracy.length - 1];
      const val = last ? ` · validation ${percent(last[1])}` : "";
      $("#ft-status").textContent =
        `Training on ${step.backend}: epoch ${step.epoch + 1}/${step.total}, batch ${step.batch + 1}/` +
        `${step.batches} · loss ${step.loss.toFixed(4)}${acc}${val}`;
      this.scheduleDraw();
    } else if (step.kind === "epoch") {
      if (step.valAccuracy !== null) this.curves.valAccuracy.push([step.epoch + 1, step.valAccuracy]);
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
      this.draw();
    });
  }

  draw() {
    const canvas = $("#ft-chart");
    const layout = drawChart(canvas, {
      x: { label: "epoch", max: this.epochs },
      left: {
        label: "accuracy",
        ticks: [0, 0.25, 0.5, 0.75, 1],
        format: (v) => `${Math.round(100 * v)} %`,
      },
      right: { label: "loss" },
      series: [
        { label: "training accuracy", colour: "#1b4f8a", points: this.curves.accuracy },
        { label: "validation accuracy", colour: "#1e8449", points: this.curves.valAccuracy, dots: true },
        { label: "training loss", colour: "#c0392b", points: this.curves.loss, axis: "right", dash: [4, 3] },
      ],
    });
    canvas.dataset.layout = JSON.stringify(layout);
    canvas.dataset.points = JSON.stringify({
      accuracy: this.curves.accuracy.length,
      valAccuracy: this.curves.valAccuracy.length,
      loss: this.curves.loss.length,
    });
  }

  /** The last line: validation accuracy first (what to expect on new samples), training accuracy beside it. */
  describe(summary) {
    const speed =
      `${summary.epochs} epochs on ${summary.backend}, ${Math.round(summary.samplesPerSecond)} samples/s` +
      (summary.frozenStartCached
        ? ` (head only, on features computed once on ${summary.featureBackend})`
        : "");
    const training = summary.training ? percent(summary.training.accuracy) : "–";
    const truth = summary.validation
      ? `validation accuracy ${percent(summary.validation.accuracy)} on ${summary.heldOut} held-out ` +
        `samples (training ${training})`
      : `training accuracy ${training}; no validation accuracy: ${summary.holdOutNote}`;
    return `${speed}; ${truth}.`;
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
    this.curves = emptyCurves();
    this.epochs = number("#ft-epochs");
    $("#ft-confusion").hidden = true;
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
          // The frozen layers run once, forward only: on the inference view's fastest backend for them.
          featureBackend: localStorage.getItem(autoKey(this.modelId, "tfjs-fp32")) || undefined,
          inputs,
          targets,
          name: $("#ft-name").value.trim() || undefined,
        },
        { onProgress: (step) => this.onProgress(step), signal: this.controller.signal },
      );
      this.scheduleDraw();
      const how = this.describe(summary);
      renderConfusion($("#ft-confusion"), summary.labels, summary.validation, summary.holdOutNote);
      // `unsaved`: trained, but storage refused it (ui/finetune/unsaved.js says why and offers a retry).
      $("#ft-status").textContent = summary.unsaved
        ? `Trained "${summary.name}" but NOT saved: ${how}`
        : `Saved "${summary.name}": ${how}`;
      Object.assign(this.view.dataset, {
        state: summary.unsaved ? "unsaved" : "done",
        key: summary.key,
        backend: summary.backend,
        samplesPerSecond: String(summary.samplesPerSecond),
        cached: String(summary.frozenStartCached),
        heldOut: String(summary.heldOut),
        valAccuracy: summary.validation ? String(summary.validation.accuracy) : "",
        trainAccuracy: summary.training ? String(summary.training.accuracy) : "",
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
