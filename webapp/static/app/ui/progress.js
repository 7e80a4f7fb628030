// One progress bar for long work (loading a big model, compare, self-test), with a Cancel button.
import { $ } from "./dom.js";

let current = null;

/** Runs `job({onProgress, signal})` with the bar shown; the bar hides when it settles. */
export async function withProgress(label, job) {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const box = $("#progress");
  const bar = $("#progress-bar");
  const text = $("#progress-label");
  const cancel = $("#progress-cancel");
  const onCancel = () => controller.abort();
  cancel.addEventListener("click", onCancel);
  bar.removeAttribute("value");
  text.textContent = label;
  box.hidden = false;
  const onProgress = ({ done, total, label: step }) => {
    if (total) bar.value = Math.max(0, Math.min(1, done / total));
    text.textContent = step ? `${label}: ${step}` : label;
  };
  try {
    return await job({ onProgress, signal: controller.signal });
  } finally {
    cancel.removeEventListener("click", onCancel);
    if (current === controller) {
      current = null;
      box.hidden = true;
    }
  }
}
