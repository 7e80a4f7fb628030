// A camera frame -> the model input, the way the manifest's `preprocessing` says: a photo model gets the
// photo path (preprocess.js photoInput: resize, colour, range, mean/std), a digits-style model ("ink") the
// path an uploaded image takes (fitted onto a pad-sized canvas, cropped to the ink, matched to the model's
// ink colour). Never the drawing pad's stroke path: a frame is not a drawing.
import { fitImage, inkColours } from "./drawpad.js";
import * as preprocess from "./preprocess.js";

/** The natural size of a video, bitmap, image or canvas. */
export function sizeOf(source) {
  if (source.videoWidth !== undefined) return { width: source.videoWidth, height: source.videoHeight };
  if (source.naturalWidth !== undefined) return { width: source.naturalWidth, height: source.naturalHeight };
  return { width: source.width, height: source.height };
}

/** RGBA pixels of `source` drawn at `size` ({width, height}), on `background` where it does not cover. */
function pixelsAt(source, size, background) {
  const { width, height } = sizeOf(source);
  // Safari before 16.4 has no 2D OffscreenCanvas: a detached <canvas> does the same.
  const canvas =
    typeof OffscreenCanvas !== "undefined"
      ? new OffscreenCanvas(size.width, size.height)
      : Object.assign(document.createElement("canvas"), size);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  fitImage(context, source, width, height, background);
  return context.getImageData(0, 0, size.width, size.height).data;
}

/**
 * Float32Array (H x W x C) for one frame of `source`. Digits-style models: with `padSize` (the inference
 * view's pad canvas) the frame is fitted onto a canvas of that size first, as an uploaded image is fitted
 * onto the pad; without it the frame is taken at its own size, as the fine-tune view takes an uploaded file.
 */
export function frameToInput(source, prep, padSize = null) {
  if (!preprocess.usesInk(prep)) {
    if (!preprocess.photoInput || !preprocess.pixelsOf)
      throw new Error("this app has no photo preprocessing");
    return preprocess.photoInput(preprocess.pixelsOf(source), prep);
  }
  const background = inkColours(prep.ink).background;
  const size = padSize ? { width: padSize.width, height: padSize.height } : sizeOf(source);
  const data = pixelsAt(source, size, background);
  const exact = !padSize && size.width === prep.width && size.height === prep.height;
  const options = exact ? {} : { fit: true, matchInk: true };
  return preprocess.imageToInput(data, size.width, size.height, prep, options);
}
