// Pixels -> model input, as the manifest's `preprocessing` says. The page runs it before it sends a sample to
// the worker: it hands over RGBA bytes (ImageData.data) and gets a Float32Array of H x W x C values. No DOM.

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
