// Fine-tuned models that trained but could not be saved (a full storage quota, above all). Training them
// took the user's time: rather than drop them, the worker keeps them for this session, where they predict
// and start further fine-tunes like saved ones, until "Save again" finds space. Plain data (artifacts and
// samples as ArrayBuffers), no tensors; no DOM and no tfjs.
import { getFinetuned, saveFinetuned } from "../../shared/store.js";

const unsaved = new Map(); // key -> {summary, artifacts, samples}, in training order

export function keepUnsaved(summary, artifacts, samples) {
  unsaved.set(summary.key, { summary, artifacts, samples });
}

/** {summary, artifacts, samples} of a model kept here or saved in IndexedDB. */
export async function finetunedRecord(key) {
  return unsaved.get(key) || getFinetuned(key);
}

/**
 * Saves the kept models, oldest first, and stops at the first failure (the next would hit the same full
 * quota). Returns {saved: [summary], error: message | null}; what is not saved stays kept.
 */
export async function saveUnsaved() {
  const saved = [];
  for (const [key, { summary, artifacts, samples }] of unsaved) {
    try {
      await saveFinetuned(summary, artifacts, samples);
    } catch (error) {
      return { saved, error: error.message || String(error) };
    }
    unsaved.delete(key);
    saved.push(summary);
  }
  return { saved, error: null };
}
