// The validation split: samples held out of training so that the accuracy fine-tuning reports is measured
// on samples the model never trained on. Stratified per class (as Teachable Machine, 15 %). Plain data: no
// tfjs, no DOM.

export const HOLD_OUT = 0.15;

/**
 * Splits sample indices by class: each class with n >= 2 samples holds out max(1, round(0.15 n)) of them
 * (chosen at random), a class with one sample trains on it. Returns {train, validation} (index arrays in
 * sample order) and `note`: null, or a sentence saying why some or all classes hold nothing out.
 */
export function holdOut(targets, classes, { fraction = HOLD_OUT, random = Math.random } = {}) {
  const byClass = Array.from({ length: classes }, () => []);
  targets.forEach((target, i) => byClass[target].push(i));
  const held = new Set();
  const single = [];
  byClass.forEach((indices, label) => {
    if (indices.length === 1) single.push(label);
    if (indices.length < 2) return;
    const count = Math.min(indices.length - 1, Math.max(1, Math.round(fraction * indices.length)));
    const pool = indices.slice();
    for (let k = 0; k < count; k += 1) {
      const pick = k + Math.floor(random() * (pool.length - k));
      [pool[k], pool[pick]] = [pool[pick], pool[k]];
      held.add(pool[k]);
    }
  });
  const all = targets.map((_, i) => i);
  const train = all.filter((i) => !held.has(i));
  const validation = all.filter((i) => held.has(i));
  let note = null;
  if (!validation.length) {
    note = "too few samples to hold any out (a class needs at least 2 for one to be held out)";
  } else if (single.length) {
    note = `${single.length} class(es) have 1 sample, used for training only`;
  }
  return { train, validation, note, singleClasses: single };
}

/** The rows `indices` of a flat Float32Array of samples (`per` values each), and their targets. */
export function pick(inputs, targets, indices, per) {
  const out = new Float32Array(indices.length * per);
  indices.forEach((index, row) => out.set(inputs.subarray(index * per, (index + 1) * per), row * per));
  return { inputs: out, targets: Int32Array.from(indices, (index) => targets[index]) };
}

/** {accuracy, perClass: [{count, correct, accuracy}], confusion: rows = true class, columns = predicted}. */
export function confusionOf(targets, predicted, classes) {
  const confusion = Array.from({ length: classes }, () => new Array(classes).fill(0));
  targets.forEach((target, i) => {
    confusion[target][predicted[i]] += 1;
  });
  const perClass = confusion.map((row, label) => {
    const count = row.reduce((a, b) => a + b, 0);
    return { count, correct: row[label], accuracy: count ? row[label] / count : null };
  });
  const correct = perClass.reduce((sum, entry) => sum + entry.correct, 0);
  return { accuracy: targets.length ? correct / targets.length : null, perClass, confusion };
}
