// One progress bar for long work (loading a big model, compare, self-test), with a Cancel button that
// cancels the job it shows. Jobs may overlap (a prediction during a self-test): the newest one is shown.
import { $ } from "./dom.js";

const jobs = [];

function render() {
  const job = jobs[jobs.length - 1];
  $("#progress").hidden = !job;
  if (!job) return;
  const bar = $("#progress-bar");
  if (job.fraction === null) bar.removeAttribute("value");
  else bar.value = job.fraction;
  $("#progress-label").textContent = job.text;
}

/** Runs `job({onProgress, signal})` with the bar shown; the bar hides when every job has settled. */
export async function withProgress(label, job) {
  const entry = { controller: new AbortController(), fraction: null, text: label };
  jobs.push(entry);
  $("#progress-cancel").onclick = () => {
    const shown = jobs[jobs.length - 1];
    if (shown) shown.controller.abort();
  };
  render();
  const onProgress = ({ done, total, label: step }) => {
    entry.fraction = total ? Math.max(0, Math.min(1, done / total)) : null;
    entry.text = step ? `${label}: ${step}` : label;
    render();
  };
  try {
    return await job({ onProgress, signal: entry.controller.signal });
  } finally {
    jobs.splice(jobs.indexOf(entry), 1);
    render();
  }
}
