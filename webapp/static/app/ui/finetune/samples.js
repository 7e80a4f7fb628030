// Labelled samples for fine-tuning: draw, upload or capture from the camera (as Teachable Machine does)
// images for a class, or create a new class. Samples are model inputs (preprocessed as in the inference
// view) kept in page memory until training.
import { CameraControls } from "../camera.js";
import { $, h } from "../dom.js";
import { DrawPad } from "../drawpad.js";
import { frameToInput } from "../frame-input.js";
import * as preprocess from "../preprocess.js";
import { reportError, toast } from "../toast.js";

async function pixelsOf(file) {
  const bitmap = await createImageBitmap(file);
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

export class SamplePanel {
  constructor({ onChange } = {}) {
    this.onChange = onChange || (() => {});
    this.prep = null;
    this.baseLabels = [];
    this.extra = []; // classes created here, after the start model's own
    this.samples = []; // {input: Float32Array, label: string}
    this.pad = new DrawPad($("#ft-canvas"));
    $("#ft-clear").addEventListener("click", () => this.pad.clear());
    $("#ft-add-sample").addEventListener("click", () => this.addDrawing());
    $("#ft-add-class").addEventListener("click", () => this.addClass($("#ft-new-class").value));
    $("#ft-upload").addEventListener("change", (event) => {
      const files = [...event.target.files];
      event.target.value = "";
      // The class chosen now: the files are read asynchronously, the choice may change meanwhile.
      this.addFiles(files, this.selected).catch((error) => reportError(error, "samples"));
    });
    this.camera = new CameraControls("ft-camera", { onError: (error) => reportError(error, "camera") });
    $("#ft-camera-capture").addEventListener("click", () => {
      try {
        this.addFrame();
      } catch (error) {
        reportError(error, "camera");
      }
    });
    $("#ft-clear-samples").addEventListener("click", () => {
      this.samples = [];
      this.render();
    });
  }

  setModel(manifest) {
    this.prep =
      manifest.preprocessing && manifest.preprocessing.kind === "image" ? manifest.preprocessing : null;
    if (this.prep) this.pad.setInk(this.prep.ink);
    this.samples = [];
    this.extra = [];
  }

  /** The class list of the model training starts from (a change keeps the samples of classes still there). */
  setBaseLabels(labels) {
    this.baseLabels = labels.map(String);
    this.extra = this.extra.filter((name) => !this.baseLabels.includes(name));
    this.samples = this.samples.filter((sample) => this.labels.includes(sample.label));
    this.render();
  }

  get labels() {
    return [...this.baseLabels, ...this.extra];
  }

  get selected() {
    return $("#ft-class").value;
  }

  addClass(raw) {
    const name = String(raw).trim();
    if (!name || name.length > 100) return toast("A class needs a name of 1 to 100 characters.");
    if (this.labels.includes(name)) return toast(`There is a class "${name}" already.`);
    this.extra.push(name);
    $("#ft-new-class").value = "";
    this.render();
    $("#ft-class").value = name;
    return toast(`Class "${name}" added: the model's head gains one output for it when you train.`);
  }

  add(input, label = this.selected) {
    this.samples.push({ input, label });
  }

  addDrawing() {
    if (!this.prep) return;
    if (this.pad.empty) {
      toast("Draw a sample first.");
      return;
    }
    const { data, width, height } = this.pad.pixels();
    this.add(
      preprocess.imageToInput(data, width, height, this.prep, { fit: true, matchInk: this.pad.uploaded }),
    );
    this.pad.clear();
    this.render();
  }

  /** The camera's current frame, a sample of the class picked now. */
  addFrame(label = this.selected) {
    if (!this.prep) return;
    const { video } = this.camera.camera;
    if (!this.camera.camera.active || !video.videoWidth) {
      toast("The camera shows no picture yet: wait a moment, then add the frame.");
      return;
    }
    this.add(frameToInput(video, this.prep), label); // taken as an uploaded file is
    this.render();
  }

  /**
   * Photo models: each image through the model's photo preprocessing. Digits-style models: images the size
   * of the model input are used as they are; others like a drawing (cropped, scaled).
   */
  async addFiles(files, label = this.selected) {
    if (!this.prep) return;
    const { width: w, height: hgt } = this.prep;
    for (const file of files) {
      const image = await pixelsOf(file);
      if (!preprocess.usesInk(this.prep)) {
        this.add(preprocess.photoInput(image, this.prep), label);
        continue;
      }
      const exact = image.width === w && image.height === hgt;
      const options = exact ? {} : { fit: true, matchInk: true };
      this.add(preprocess.imageToInput(image.data, image.width, image.height, this.prep, options), label);
    }
    this.render();
  }

  /** {inputs: Float32Array, targets: Int32Array, labels} for the engine's train(). */
  trainingSet() {
    const labels = this.labels;
    const per = this.samples.length ? this.samples[0].input.length : 0;
    const inputs = new Float32Array(this.samples.length * per);
    const targets = new Int32Array(this.samples.length);
    this.samples.forEach((sample, i) => {
      inputs.set(sample.input, i * per);
      targets[i] = labels.indexOf(sample.label);
    });
    return { inputs, targets, labels };
  }

  render() {
    const select = $("#ft-class");
    const previous = select.value;
    const labels = this.labels;
    select.replaceChildren(...labels.map((label) => h("option", { value: label }, label)));
    if (labels.includes(previous)) select.value = previous;
    const counts = new Map(labels.map((label) => [label, 0]));
    for (const sample of this.samples) counts.set(sample.label, counts.get(sample.label) + 1);
    $("#ft-counts tbody").replaceChildren(
      ...labels.map((label) =>
        h(
          "tr",
          { dataset: { label, count: String(counts.get(label)) } },
          h("td", {}, label, this.extra.includes(label) ? h("span", { className: "tag" }, "new") : null),
          h("td", { className: "num" }, String(counts.get(label))),
        ),
      ),
    );
    $("#ft-sample-count").textContent = `${this.samples.length} samples`;
    $("#ft-samples").dataset.count = String(this.samples.length);
    this.onChange();
  }
}
