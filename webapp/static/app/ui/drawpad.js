// The drawing canvas: strokes in the model's ink colour on its background colour (ink "high": white on
// black, like scikit-learn's digits; "low": black on white). Uploaded images are drawn scaled to fit.
// Pointer events, so a finger draws as a mouse does (the canvas has touch-action: none: no scrolling).

/** The pad's colours for the model's ink. */
export function inkColours(ink) {
  return ink === "low"
    ? { background: "#ffffff", stroke: "#000000" }
    : { background: "#000000", stroke: "#ffffff" };
}

/**
 * Draws `source` (an image, bitmap or video frame of sourceW x sourceH) scaled to fit and centred on the
 * background colour: how an uploaded image lands on the pad, and a camera frame on a pad-sized canvas.
 */
export function fitImage(context, source, sourceW, sourceH, background) {
  const { width, height } = context.canvas;
  const scale = Math.min(width / sourceW, height / sourceH);
  const w = sourceW * scale;
  const h = sourceH * scale;
  context.fillStyle = background;
  context.fillRect(0, 0, width, height);
  context.drawImage(source, (width - w) / 2, (height - h) / 2, w, h);
}

export class DrawPad {
  constructor(canvas, { onStroke } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d", { willReadFrequently: true });
    this.onStroke = onStroke;
    this.ink = "high";
    this.uploaded = false;
    this.empty = true;
    this.drawing = false;
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.end(event));
    canvas.addEventListener("pointercancel", (event) => this.end(event));
    canvas.addEventListener("pointerleave", (event) => this.end(event));
    this.clear();
  }

  colours() {
    return inkColours(this.ink);
  }

  setInk(ink) {
    this.ink = ink === "low" ? "low" : "high";
    this.clear();
  }

  clear() {
    const { width, height } = this.canvas;
    this.context.fillStyle = this.colours().background;
    this.context.fillRect(0, 0, width, height);
    this.uploaded = false;
    this.empty = true;
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * this.canvas.width) / rect.width,
      y: ((event.clientY - rect.top) * this.canvas.height) / rect.height,
    };
  }

  start(event) {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault(); // no text selection, no long-press menu on a phone
    if (this.drawing) return; // a second finger does not draw
    if (this.uploaded) this.clear();
    this.drawing = true;
    this.pointerId = event.pointerId;
    this.canvas.setPointerCapture(event.pointerId);
    this.last = this.point(event);
    this.line(this.last, this.last);
  }

  move(event) {
    if (!this.drawing || event.pointerId !== this.pointerId) return;
    const next = this.point(event);
    this.line(this.last, next);
    this.last = next;
  }

  end(event) {
    if (!this.drawing || event.pointerId !== this.pointerId) return;
    this.drawing = false;
    if (this.onStroke) this.onStroke();
  }

  line(from, to) {
    const ctx = this.context;
    ctx.strokeStyle = this.colours().stroke;
    ctx.lineWidth = this.canvas.width / 12;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    this.empty = false;
  }

  async drawImage(file) {
    const bitmap = await createImageBitmap(file);
    try {
      this.clear();
      fitImage(this.context, bitmap, bitmap.width, bitmap.height, this.colours().background);
      this.uploaded = true;
      this.empty = false;
    } finally {
      bitmap.close();
    }
  }

  pixels() {
    const { width, height } = this.canvas;
    return { data: this.context.getImageData(0, 0, width, height).data, width, height };
  }
}

/** Shows the model input (H x W x C in `range`) enlarged, pixelated. */
export function drawPreview(canvas, input, prep) {
  const { width, height, channels, range } = prep;
  const [lo, hi] = range || [0, 1];
  const image = new ImageData(width, height);
  for (let i = 0; i < width * height; i += 1) {
    for (let c = 0; c < 3; c += 1) {
      const v = input[i * channels + (channels === 1 ? 0 : c)];
      image.data[4 * i + c] = Math.round((255 * (v - lo)) / (hi - lo || 1));
    }
    image.data[4 * i + 3] = 255;
  }
  const scratch = new OffscreenCanvas(width, height);
  scratch.getContext("2d").putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}
