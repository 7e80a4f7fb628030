// Parity and accuracy arithmetic on plain typed arrays (the worker's diagnostics; the page's probabilities).
// No DOM, no tfjs.

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) {
    const d = Math.abs(Number(a[i]) - Number(b[i]));
    if (d > max || Number.isNaN(d)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

/** Index of the largest value in each row of a [rows, classes] array. */
export function argmaxRows(data, classes) {
  const rows = data.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r += 1) {
    let best = 0;
    for (let c = 1; c < classes; c += 1) if (data[r * classes + c] > data[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Share of equal entries. */
export function agreement(a, b) {
  let same = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] === b[i]) same += 1;
  return a.length ? same / a.length : 0;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Scores as probabilities: softmax unless they already are a distribution. */
export function toProbabilities(scores) {
  let sum = 0;
  let min = Infinity;
  for (const s of scores) {
    sum += s;
    min = Math.min(min, s);
  }
  if (min >= 0 && Math.abs(sum - 1) < 1e-3) return Float32Array.from(scores);
  const max = Math.max(...scores);
  const exp = Array.from(scores, (s) => Math.exp(s - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return Float32Array.from(exp, (e) => e / total);
}
