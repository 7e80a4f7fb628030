// The plain page's script: load the model.json named in ?model=, predict once (time to first prediction,
// counted from navigation start), then time single predictions. Results go to window.plainResult.
/* global tf */
"use strict";

async function runPlain() {
  const params = new URLSearchParams(window.location.search);
  const url = params.get("model");
  const runs = Number(params.get("runs") || 20);
  const budgetMs = Number(params.get("budget") || 10_000);
  const model = await tf.loadLayersModel(url);
  const shape = [1, ...model.inputs[0].shape.slice(1)];
  const x = tf.randomUniform(shape, 0, 1, "float32", 1);
  const first = model.predict(x);
  await first.data();
  first.dispose();
  const firstPredictionMs = performance.now();
  const times = [];
  const started = performance.now();
  while (times.length < runs && (times.length < 3 || performance.now() - started < budgetMs)) {
    const t0 = performance.now();
    const y = model.predict(x);
    await y.data();
    times.push(performance.now() - t0);
    y.dispose();
  }
  x.dispose();
  return { backend: tf.getBackend(), firstPredictionMs, times };
}

window.plainResult = runPlain().then(
  (result) => {
    document.querySelector("#status").textContent = "done";
    return result;
  },
  (error) => ({ error: String(error && error.message ? error.message : error) }),
);
