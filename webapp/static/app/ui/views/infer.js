// Inference view: draw or upload (digit-style image models), upload a photo (other image models) or type
// numbers (numeric models), pick a variant and a backend (or a model fine-tuned in this browser:
// app/shared/finetuned-id.js), see class probabilities (by label; the top 5 when there are many classes) and
// latency. Talks to the engine only through the bridge.
import { inputSize, labelsOf, variantIds } from "../../shared/catalog.js";
import { finetunedVariant } from "../../shared/finetuned-id.js";
import { markOnce } from "../../shared/marks.js";
import { toProbabilities } from "../../shared/metrics.js";
import { CameraPanel } from "../camera-panel.js";
import { renderBars } from "../chart.js";
import { $, formatMs, h } from "../dom.js";
import { DrawPad, drawPreview } from "../drawpad.js";
import { imageToInput, inputPixels, numericToInput, photoInput, pixelsOf, usesInk } from "../preprocess.js";
import { autoKey, BACKEND_KEY } from "../backend-memory.js";
import { withProgress } from "../progress.js";
import { reportError } from "../toast.js";

// Up to this many classes every bar is shown, in class order (the digits: 10); beyond, the TOP_K largest.
const ALL_BARS_UP_TO = 10;
const TOP_K = 5;
// The backends each runtime offers (app/model/runtimes/tfjs.js and litert.js); webgpu only where this
// browser gives a WebGPU adapter. "auto" is offered for both: it times them and remembers the fastest.
const RUNTIME_BACKENDS = { tfjs: ["wasm", "webgl", "cpu", "webgpu"], tflite: ["wasm", "webgpu"] };
const RUNTIME_NAMES = { tfjs: "tfjs", tflite: "LiteRT.js" };
// A download-size variant (int8 weights expanded to float at run time: slower than fp32 here) is never
// the automatic pick; the Compare view says so.
const DOWNLOAD_SIZE_PRECISIONS = ["dynamic-int8"];

export class InferView {
  constructor(engine) {
    this.engine = engine;
    this.model = null; // {id, manifest}
    this.finetuned = []; // summaries of the models fine-tuned here from this export (app/shared/store.js)
    this.pad = new DrawPad($("#draw-canvas"), { onStroke: () => this.predict().catch(reportError) });
    this.lastResult = null;
    this.lastInput = null; // the Float32Array the last prediction ran on (shown as "Model input")
    this.photo = null; // photo models: the uploaded image's pixels at full size (ImageData)
    this.photoCanvas = h("canvas", {
      id: "photo-canvas",
      width: 280,
      height: 280,
      hidden: true,
      ariaLabel: "Uploaded photo",
    });
    $("#draw-canvas").after(this.photoCanvas);
    this.camera = new CameraPanel(this); // live top-k from the camera, beside the pad
    $("#clear-button").addEventListener("click", () => {
      this.pad.clear();
      this.setPhoto(null);
      this.showEmpty();
    });
    $("#predict-button").addEventListener("click", () => this.predict().catch(reportError));
    $("#upload-input").addEventListener("change", async (event) => {
      const [file] = event.target.files;
      event.target.value = "";
      if (!file) return;
      try {
        if (this.photoModel) await this.setPhoto(file);
        else await this.pad.drawImage(file);
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
    this.preferredBackend = localStorage.getItem(BACKEND_KEY) || "auto"; // the user's pick, for any runtime
    this.webgpu = false; // whether this browser gives a WebGPU adapter (asked once, below)
    this.renderBackends();
    backend.addEventListener("change", () => {
      this.preferredBackend = backend.value;
      localStorage.setItem(BACKEND_KEY, backend.value);
      this.changed();
    });
    this.gpuReady = (
      navigator.gpu ? navigator.gpu.requestAdapter().catch(() => null) : Promise.resolve(null)
    ).then((adapter) => {
      this.webgpu = Boolean(adapter);
      if (this.webgpu) this.renderBackends();
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
    select.value = values.includes(preferred) ? preferred : automaticVariant(manifest, values);
  }

  /** "auto" and the backends the selected variant's runtime offers here; the user's pick where offered. */
  renderBackends() {
    const select = $("#backend-select");
    const spec = this.model && this.specOf(this.variant);
    const runtime = spec && spec.target === "tflite" ? "tflite" : "tfjs";
    const offered = RUNTIME_BACKENDS[runtime].filter((name) => name !== "webgpu" || this.webgpu);
    select.replaceChildren(
      h("option", { value: "auto" }, "auto (fastest)"),
      ...offered.map((name) => h("option", { value: name }, name)),
    );
    select.value = offered.includes(this.preferredBackend) ? this.preferredBackend : "auto";
    select.dataset.runtime = runtime;
  }

  /** The models fine-tuned here from this export, listed after the exported variants. */
  setFinetuned(items) {
    const current = this.variant;
    this.finetuned = items;
    if (!this.model) return;
    this.renderVariants(current);
    this.renderBackends();
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

  /** Image models whose manifest does not ask for digit-style ink: photo preprocessing, no drawing pad. */
  get photoModel() {
    const prep = this.model && this.model.manifest.preprocessing;
    return Boolean(prep) && prep.kind === "image" && !usesInk(prep);
  }

  /**
   * The photo to predict on: a File/Blob (decoded at full size), any drawable (pixelsOf), or null to clear.
   * It is shown scaled to fit; the model input is computed from the full-size pixels, not from what is shown.
   */
  async setPhoto(source) {
    const canvas = this.photoCanvas;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (!source) {
      this.photo = null;
      return;
    }
    // The file's own pixel values, as Python's decoders (PIL, tf.io.decode_image) read them: no colour
    // profile conversion, no premultiplied alpha. EXIF orientation is applied: the photo is upright, as the
    // user sees it.
    const drawable =
      source instanceof Blob
        ? await createImageBitmap(source, { colorSpaceConversion: "none", premultiplyAlpha: "none" })
        : source;
    try {
      this.photo = pixelsOf(drawable);
      const { width, height } = this.photo;
      const scale = Math.min(canvas.width / width, canvas.height / height);
      const [w, h2] = [width * scale, height * scale];
      const shown = await createImageBitmap(this.photo);
      context.drawImage(shown, (canvas.width - w) / 2, (canvas.height - h2) / 2, w, h2);
      shown.close();
    } finally {
      if (drawable !== source) drawable.close();
    }
  }

  setModel(id, manifest) {
    this.model = { id, manifest };
    this.finetuned = this.finetuned.filter((item) => item.baseId === id);
    this.renderVariants(null);
    this.renderBackends();
    const prep = manifest.preprocessing || { kind: "numeric" };
    const image = prep.kind === "image";
    $("#image-input").hidden = !image;
    $("#numeric-input").hidden = image;
    const photo = this.photoModel;
    $("#draw-canvas").hidden = photo;
    this.photoCanvas.hidden = !photo;
    this.setPhoto(null);
    $("#image-input").dataset.mode = photo ? "photo" : image ? "draw" : "none";
    if (photo) {
      $("#image-input h2").textContent = "Upload a photo";
    } else if (image) {
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
    $("#backend-note").textContent =
      extra || (tflite ? "TFLite variants run on LiteRT.js (XNNPACK in WebAssembly, or WebGPU)." : "");
  }

  changed() {
    this.renderBackends();
    this.updateBackendNote();
    if (this.lastResult) this.predict().catch(reportError);
  }

  /** No bars, no top-1: state "empty", or "error" when `variant` failed (its error is in a toast). */
  clearResult(state, variant = null) {
    const labels = this.labelsFor(this.variant);
    if (labels.length <= ALL_BARS_UP_TO) renderBars($("#chart"), labels, new Float32Array(labels.length));
    else $("#chart").replaceChildren();
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
    if (this.photoModel) {
      const preview = $("#preview-canvas");
      preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
    } else if (prep && prep.kind === "image") {
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
    if (this.photoModel) {
      if (!this.photo) throw new Error("Upload a photo first: this model takes photos, not drawings.");
      const input = photoInput(this.photo, prep);
      showInput($("#preview-canvas"), input, prep);
      return input;
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
    this.lastInput = input;
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
    if (result.measured) localStorage.setItem(autoKey(id, variant), result.backend);
    const labels = this.labelsFor(variant);
    const probabilities = toProbabilities(result.scores);
    const best = showBars(labels, probabilities);
    $("#top1-label").textContent = labels[best];
    $("#top1-prob").textContent = `${(100 * probabilities[best]).toFixed(1)} %`;
    const where = `${RUNTIME_NAMES[spec.target] || spec.target} ${result.backend}`;
    $("#latency").textContent = `${variant} on ${where}: ${formatMs(result.latencyMs)}`;
    if (this.backend === "auto") {
      const measured = result.measured
        ? Object.entries(result.measured)
            .map(([name, ms]) => `${name} ${ms === null ? "failed" : formatMs(ms)}`)
            .join(", ")
        : remembered
          ? "remembered"
          : "the only one here";
      this.updateBackendNote(`auto → ${result.backend} (${measured})`);
    }
    const box = $("#result");
    box.dataset.state = "done";
    markOnce("edgeship:first-prediction");
    box.dataset.top1 = String(best);
    box.dataset.variant = variant;
    box.dataset.backend = result.backend;
    box.dataset.scores = JSON.stringify(Array.from(result.scores));
    this.lastResult = result;
    return { ...result, top1: best, probabilities };
  }
}

/** The variant picked when the user has not picked one: the manifest's default, never a download-size one. */
function automaticVariant(manifest, values) {
  const spec = manifest.variants[manifest.default_variant];
  if (spec && !DOWNLOAD_SIZE_PRECISIONS.includes(spec.precision)) return manifest.default_variant;
  const runnable = values.filter(
    (id) => !DOWNLOAD_SIZE_PRECISIONS.includes(manifest.variants[id]?.precision),
  );
  return runnable[0] || values[0];
}

/**
 * Every class's bar in class order, or for many classes the TOP_K most probable, largest first (each bar
 * with its label and probability). Returns the top-1 class index.
 */
function showBars(labels, probabilities) {
  if (labels.length <= ALL_BARS_UP_TO) return renderBars($("#chart"), labels, probabilities);
  const top = Array.from(probabilities, (probability, index) => ({ probability, index }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, TOP_K);
  renderBars(
    $("#chart"),
    top.map(({ index }) => labels[index]),
    top.map(({ probability }) => probability),
  );
  return top[0].index;
}

/** A photo model's input, shown enlarged and pixelated, in the colours the photo had. */
function showInput(canvas, input, prep) {
  const image = new ImageData(inputPixels(input, prep), prep.width, prep.height);
  const scratch = new OffscreenCanvas(prep.width, prep.height);
  scratch.getContext("2d").putImageData(image, 0, 0);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}
