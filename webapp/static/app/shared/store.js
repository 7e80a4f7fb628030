// Fine-tuned models kept in this browser (IndexedDB): list, get, save, rename, delete. They work offline
// and survive reloads. No DOM and no tfjs: the worker saves and loads them, the page lists and edits them.
//
// A model is two records under one key: its summary {key, name, created, baseId, labels, ...} and its
// data {key, artifacts: {modelTopology, weightSpecs, weightData, format}, samples: {shape, data}}.
import { STORES, transact } from "./idb.js";

const BOTH = [STORES.finetuned, STORES.finetunedData];

export function newKey() {
  const random = Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, "0");
  return `ft-${Date.now().toString(36)}-${random}`;
}

/** Summaries, newest first. */
export async function listFinetuned(baseId = null) {
  const all = await transact([STORES.finetuned], "readonly", (s) => s[STORES.finetuned].getAll());
  return all
    .filter((item) => baseId === null || item.baseId === baseId)
    .sort((a, b) => b.created.localeCompare(a.created));
}

export async function getSummary(key) {
  const summary = await transact([STORES.finetuned], "readonly", (s) => s[STORES.finetuned].get(key));
  if (!summary) throw new Error(`no saved fine-tuned model ${key} in this browser`);
  return summary;
}

/** {summary, artifacts, samples}. */
export async function getFinetuned(key) {
  const summary = await getSummary(key);
  const data = await transact([STORES.finetunedData], "readonly", (s) => s[STORES.finetunedData].get(key));
  if (!data) throw new Error(`the saved model "${summary.name}" has lost its weights; delete it`);
  return { summary, artifacts: data.artifacts, samples: data.samples };
}

export async function saveFinetuned(summary, artifacts, samples) {
  await transact(
    BOTH,
    "readwrite",
    (s) => {
      s[STORES.finetunedData].put({ key: summary.key, artifacts, samples });
      s[STORES.finetuned].put(summary);
    },
    `save the model "${summary.name}"`,
  );
  return summary;
}

export async function renameFinetuned(key, name) {
  const clean = String(name).trim();
  if (!clean) throw new Error("a saved model needs a name");
  const summary = await getSummary(key);
  const renamed = { ...summary, name: clean.slice(0, 100) };
  await transact([STORES.finetuned], "readwrite", (s) => s[STORES.finetuned].put(renamed), "rename");
  return renamed;
}

export async function deleteFinetuned(key) {
  await transact(BOTH, "readwrite", (s) => {
    s[STORES.finetuned].delete(key);
    s[STORES.finetunedData].delete(key);
  });
}
