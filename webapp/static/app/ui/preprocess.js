// Pixels -> model input, as the manifest's `preprocessing` says. The page runs it before it sends a sample to
// the worker: it hands over RGBA bytes (ImageData.data) and gets a Float32Array of H x W x C values.
//
// Two paths. Digit-style models (`ink` "high" or "low": the demo) get the drawing pad's path, imageToInput:
// crop to the ink, match the background. Every other image model gets photoInput: resize, colour, range,
// mean/std, exactly as exporter/image_preprocessing.py (the reference; its docstring states the algorithm,
// and tests/test_image_preprocessing.py holds the two to 1e-6). No DOM here except pixelsOf, which uses a
// canvas only when it is called, so node can import this module.

const INK_THRESHOLD = 0.15 * 255;

function toChannels(rgba, count, channels) {
  const out = new Float32Array(count * channels);
  for (let i = 0; i < count; i += 1) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    const a = rgba[4 * i + 3] / 255;
    if (channels === 1) {
      out[i] = (0.299 * r + 0.587 * g + 0.114 * b) * a;
    } else {
      out[3 * i] = r * a;
      out[3 * i + 1] = g * a;
      out[3 * i + 2] = b * a;
    }
  }
  return out;
}

function borderMean(values, width, height, channels) {
  let sum = 0;
  let count = 0;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (y !== 0 && y !== height - 1 && x !== 0 && x !== width - 1) continue;
      for (let c = 0; c < channels; c += 1) sum += values[(y * width + x) * channels + c];
      count += channels;
    }
  }
  return count ? sum / count : 0;
}

/** Bounding box of the pixels that carry ink, or null for an empty image. */
export function inkBox(values, width, height, channels, ink) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      let v = 0;
      for (let c = 0; c < channels; c += 1) v += values[(y * width + x) * channels + c];
      v /= channels;
      const strength = ink === "low" ? 255 - v : v;
      if (strength > INK_THRESHOLD) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Area-averages the rectangle `crop` of the source onto outW x outH; outside the source is `background`. */
export function resample(values, width, height, channels, crop, outW, outH, background) {
  const sums = new Float64Array(outW * outH * channels);
  const counts = new Float64Array(outW * outH);
  const x0 = Math.floor(crop.x);
  const y0 = Math.floor(crop.y);
  const cw = Math.max(1, Math.round(crop.width));
  const ch = Math.max(1, Math.round(crop.height));
  for (let dy = 0; dy < ch; dy += 1) {
    const oy = Math.min(outH - 1, Math.floor((dy * outH) / ch));
    const sy = y0 + dy;
    for (let dx = 0; dx < cw; dx += 1) {
      const ox = Math.min(outW - 1, Math.floor((dx * outW) / cw));
      const sx = x0 + dx;
      const inside = sx >= 0 && sy >= 0 && sx < width && sy < height;
      const o = oy * outW + ox;
      for (let c = 0; c < channels; c += 1) {
        sums[o * channels + c] += inside ? values[(sy * width + sx) * channels + c] : background;
      }
      counts[o] += 1;
    }
  }
  const out = new Float32Array(outW * outH * channels);
  for (let o = 0; o < outW * outH; o += 1) {
    for (let c = 0; c < channels; c += 1) out[o * channels + c] = sums[o * channels + c] / counts[o];
  }
  return out;
}

/**
 * RGBA pixels -> model input (Float32Array, H x W x C, in `prep.range`).
 * options.fit: crop to the ink and centre it with a margin (hand-drawn digits, like scikit-learn's).
 * options.matchInk: invert when the image's background is the model's ink colour (uploaded photos).
 */
export function imageToInput(rgba, width, height, prep, options = {}) {
  const { height: outH, width: outW, channels } = prep;
  let values = toChannels(rgba, width * height, channels);
  const background = prep.ink === "low" ? 255 : 0;
  if (options.matchInk) {
    const bright = borderMean(values, width, height, channels) > 127.5;
    if (bright !== (prep.ink === "low")) values = values.map((v) => 255 - v);
  }
  let crop = { x: 0, y: 0, width, height };
  if (options.fit) {
    const box = inkBox(values, width, height, channels, prep.ink);
    if (box) {
      const aspect = outW / outH;
      let w = Math.max(box.width, box.height * aspect);
      let h = w / aspect;
      const margin = options.margin ?? 0.12;
      w *= 1 + 2 * margin;
      h *= 1 + 2 * margin;
      crop = { x: box.x + box.width / 2 - w / 2, y: box.y + box.height / 2 - h / 2, width: w, height: h };
    }
  }
  const pixels = resample(values, width, height, channels, crop, outW, outH, background);
  const [lo, hi] = prep.range || [0, 1];
  return pixels.map((v) => lo + (v / 255) * (hi - lo));
}

/** Numeric input: exactly `size` finite numbers. */
export function numericToInput(values, size) {
  if (values.length !== size) throw new Error(`expected ${size} numbers, got ${values.length}`);
  const out = Float32Array.from(values, Number);
  if (out.some((v) => !Number.isFinite(v))) throw new Error("every value must be a finite number");
  return out;
}

/** True when the model wants the digits path (crop to the ink, match the background), not photo input. */
export function usesInk(prep) {
  return Boolean(prep) && prep.kind === "image" && (prep.ink === "high" || prep.ink === "low");
}

const GRAY = [0.299, 0.587, 0.114];
const RESIZE_MODES = ["stretch", "crop", "pad"];
const COLORS = ["rgb", "bgr", "gray"];

/** The manifest's image `preprocessing` with the defaults for the fields an older manifest lacks. */
export function photoSpec(prep) {
  const channels = Number(prep.channels);
  if (channels !== 1 && channels !== 3)
    throw new Error(`photo preprocessing takes 1 or 3 channels, not ${channels}`);
  const color = prep.color || (channels === 1 ? "gray" : "rgb");
  const resize = prep.resize || "stretch";
  if (!COLORS.includes(color)) throw new Error(`color must be one of ${COLORS.join(", ")}, not ${color}`);
  if (!RESIZE_MODES.includes(resize)) {
    throw new Error(`resize must be one of ${RESIZE_MODES.join(", ")}, not ${resize}`);
  }
  return {
    height: Number(prep.height),
    width: Number(prep.width),
    channels,
    color: channels === 1 ? "gray" : color,
    resize,
    range: (prep.range || [0, 1]).map(Number),
    mean: prep.mean || null,
    std: prep.std || null,
  };
}

/** {x, y, width, height} of the source that the output covers; it may reach outside the image ("pad"). */
export function sourceRect(width, height, outW, outH, resize) {
  if (resize === "stretch") return { x: 0, y: 0, width, height };
  const target = outW / outH;
  const wider = width / height > target;
  let w;
  let h;
  if (resize === "crop") [w, h] = wider ? [height * target, height] : [width, width / target];
  else [w, h] = wider ? [width, width / target] : [height * target, height]; // pad: grow around the image
  return { x: (width - w) / 2, y: (height - h) / 2, width: w, height: h };
}

/**
 * Box-filter weights along one axis: output pixel j covers [start + j * step, start + (j + 1) * step) of the
 * source, step = extent / out; weights[j][k] is the share of that footprint source pixel first[j] + k covers.
 * Footprint outside 0..size has no weight (padding, value 0).
 */
export function boxWeights(size, start, extent, out) {
  const step = extent / out;
  const first = new Int32Array(out);
  const weights = [];
  for (let j = 0; j < out; j += 1) {
    const a = start + j * step;
    const b = a + step;
    const lo = Math.max(0, Math.floor(a));
    const hi = Math.min(size, Math.ceil(b));
    const row = new Float64Array(Math.max(0, hi - lo));
    for (let i = lo; i < hi; i += 1) {
      const overlap = Math.min(b, i + 1) - Math.max(a, i);
      if (overlap > 0) row[i - lo] = overlap / step;
    }
    first[j] = lo;
    weights.push(row);
  }
  return { first, weights };
}

/**
 * Photo preprocessing: RGBA pixels ({data, width, height}, e.g. an ImageData) -> Float32Array H x W x C.
 * Alpha is composited on white; resize as prep.resize says with area (box) resampling, separable, float64;
 * then colour, range, mean/std. No ink crop, no inversion. exporter/image_preprocessing.py is the reference.
 */
export function photoInput(imageData, prep) {
  const spec = photoSpec(prep);
  const { data, width, height } = imageData;
  if (!width || !height || data.length !== width * height * 4) {
    throw new Error(`expected ${width} x ${height} RGBA pixels, got ${data.length} bytes`);
  }
  const outW = spec.width;
  const outH = spec.height;
  const rect = sourceRect(width, height, outW, outH, spec.resize);
  const alongX = boxWeights(width, rect.x, rect.width, outW);
  const alongY = boxWeights(height, rect.y, rect.height, outH);
  // Along x, per source row (alpha composited on the fly: no full-size float copy of a 12-megapixel photo).
  const rows = new Float64Array(height * outW * 3);
  for (let y = 0; y < height; y += 1) {
    for (let j = 0; j < outW; j += 1) {
      const lo = alongX.first[j];
      const weights = alongX.weights[j];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < weights.length; k += 1) {
        const p = 4 * (y * width + lo + k);
        const alpha = data[p + 3] / 255;
        const white = 255 * (1 - alpha);
        r += weights[k] * (data[p] * alpha + white);
        g += weights[k] * (data[p + 1] * alpha + white);
        b += weights[k] * (data[p + 2] * alpha + white);
      }
      const o = 3 * (y * outW + j);
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  const { channels, mean, std } = spec;
  const [lo, hi] = spec.range;
  const out = new Float32Array(outH * outW * channels);
  const pixel = new Float64Array(3);
  for (let i = 0; i < outH; i += 1) {
    const top = alongY.first[i];
    const weights = alongY.weights[i];
    for (let j = 0; j < outW; j += 1) {
      pixel.fill(0);
      for (let k = 0; k < weights.length; k += 1) {
        const o = 3 * ((top + k) * outW + j);
        for (let c = 0; c < 3; c += 1) pixel[c] += weights[k] * rows[o + c];
      }
      let values;
      if (spec.color === "gray") {
        const gray = GRAY[0] * pixel[0] + GRAY[1] * pixel[1] + GRAY[2] * pixel[2];
        values = new Array(channels).fill(gray);
      } else {
        values = spec.color === "bgr" ? [pixel[2], pixel[1], pixel[0]] : [pixel[0], pixel[1], pixel[2]];
      }
      for (let c = 0; c < channels; c += 1) {
        let v = lo + (values[c] / 255) * (hi - lo);
        if (mean) v -= mean[c];
        if (std) v /= std[c];
        out[(i * outW + j) * channels + c] = v;
      }
    }
  }
  return out;
}

/** A model input back to RGBA bytes (H x W) for showing it: undoes mean/std, range and the BGR order. */
export function inputPixels(input, prep) {
  const spec = photoSpec(prep);
  const { width, height, channels, mean, std } = spec;
  const [lo, hi] = spec.range;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i += 1) {
    const values = [];
    for (let c = 0; c < channels; c += 1) {
      let v = input[i * channels + c];
      if (std) v *= std[c];
      if (mean) v += mean[c];
      values.push((255 * (v - lo)) / (hi - lo || 1));
    }
    const [r, g, b] = channels === 1 ? [values[0], values[0], values[0]] : values;
    [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]] = spec.color === "bgr" ? [b, g, r] : [r, g, b];
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

/**
 * {width, height} of any drawable at its natural size: a video's frame, an image's file, a VideoFrame's
 * display size, a bitmap's or canvas's own (0 x 0 for a video or image that has not loaded yet).
 */
export function naturalSize(source) {
  if ("videoWidth" in source) return { width: source.videoWidth, height: source.videoHeight };
  if ("naturalWidth" in source) return { width: source.naturalWidth, height: source.naturalHeight };
  if ("displayWidth" in source) return { width: source.displayWidth, height: source.displayHeight };
  return { width: source.width || 0, height: source.height || 0 };
}

/**
 * The RGBA pixels of any drawable (ImageBitmap, HTMLVideoElement, HTMLImageElement, a canvas, VideoFrame) at
 * its natural size, drawn 1:1 (no scaling, no smoothing). Alpha is kept as it is (the canvas starts
 * transparent): photoInput composites it on white. An ImageData is returned as it is.
 */
export function pixelsOf(source) {
  if (typeof ImageData !== "undefined" && source instanceof ImageData) return source;
  const { width, height } = naturalSize(source);
  if (!width || !height) throw new Error("the image has no pixels yet (a camera that has not started?)");
  const canvas =
    typeof OffscreenCanvas !== "undefined"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}
