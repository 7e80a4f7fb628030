// The variant id of a model fine-tuned in this browser: "ft:<key>", <key> its IndexedDB key
// (app/shared/store.js). The page writes these ids into its selects and sends them to the worker, which
// reads them back: both build and parse them here only.

export const FINETUNED_PREFIX = "ft:";

/** The variant id of the fine-tuned model saved (or kept) under `key`. */
export const finetunedVariant = (key) => `${FINETUNED_PREFIX}${key}`;

export const isFinetuned = (variant) => String(variant).startsWith(FINETUNED_PREFIX);

/** The key inside a fine-tuned variant id. */
export const finetunedKey = (variant) => String(variant).slice(FINETUNED_PREFIX.length);
