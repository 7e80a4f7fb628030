// A domain-shifted digits set, generated in the test from the export's own eval digits (manifest.eval: 8x8
// images in [0, 1], light ink on black): every digit inverted, dark ink on light paper as on a scanned
// page. Uploaded as they are (8x8 PNGs, the model's input size), the base model gets almost all of them
// wrong; fine-tuning in the browser on a part of them fixes that.
import { readFileSync } from "node:fs";
import path from "node:path";
import { greyPng } from "./png.js";

const SIDE = 8;

function decode(stored, Typed) {
  const bytes = Buffer.from(stored.data, "base64");
  return new Typed(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** Inverted, in 8-bit steps (as a PNG stores it). */
const invert = (image) => Array.from(image, (v) => Math.round(255 * (1 - v)) / 255);

function asSet(images, labels) {
  return {
    inputs: images,
    labels,
    pngs: images.map((values) => greyPng(SIDE, SIDE, (x, y) => Math.round(255 * values[y * SIDE + x]))),
  };
}

/**
 * {train, heldOut}: each {inputs: number[][] (64 values in [0, 1]), labels: number[], pngs: Buffer[]};
 * `trainShare` of every class goes to train (stratified, in the eval file's order).
 */
export function shiftedDigits(exportDir, trainShare = 0.5) {
  const manifest = JSON.parse(readFileSync(path.join(exportDir, "manifest.json"), "utf8"));
  const stored = JSON.parse(readFileSync(path.join(exportDir, manifest.eval), "utf8"));
  const [n, height, width] = stored.inputs.shape;
  if (height !== SIDE || width !== SIDE) throw new Error(`expected 8x8 digits, got ${height}x${width}`);
  const pixels = decode(stored.inputs, Float32Array);
  const labels = decode(stored.labels, Int32Array);
  const byClass = new Map();
  for (let i = 0; i < n; i += 1) byClass.set(labels[i], [...(byClass.get(labels[i]) || []), i]);
  const sets = { train: [], heldOut: [] };
  for (const indices of byClass.values()) {
    const cut = Math.round(indices.length * trainShare);
    indices.forEach((index, k) => sets[k < cut ? "train" : "heldOut"].push(index));
  }
  const build = (indices) =>
    asSet(
      indices.map((i) => invert(pixels.subarray(i * 64, (i + 1) * 64))),
      indices.map((i) => labels[i]),
    );
  return { train: build(sets.train), heldOut: build(sets.heldOut) };
}

/** `count` samples of a new class: a dark "x" on light paper, each shifted and thinned a little. */
export function crosses(count, label) {
  const images = [];
  for (let k = 0; k < count; k += 1) {
    const dx = (k % 3) - 1;
    const dy = (Math.floor(k / 3) % 3) - 1;
    const image = new Array(SIDE * SIDE).fill(1);
    for (let i = 1; i < SIDE - 1; i += 1) {
      for (const x of [i + dx, SIDE - 1 - i + dx]) {
        const y = i + dy;
        if (x >= 0 && y >= 0 && x < SIDE && y < SIDE) image[y * SIDE + x] = k % 2 ? 0.2 : 0;
      }
    }
    images.push(image);
  }
  return asSet(images, new Array(count).fill(label));
}
