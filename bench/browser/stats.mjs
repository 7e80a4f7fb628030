// Summaries the browser benchmark reports: median (min–max) of a list, stage times over rounds.

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function stats(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** Each stage's median time over rounds (stages in the same order every round). */
export function stagesOver(perRound) {
  return perRound[0].map((first, i) => {
    const values = perRound
      .map((stages) => stages[i] && stages[i].at_ms)
      .filter((v) => typeof v === "number");
    return { stage: first.stage, source: first.source, at_ms: values.length ? median(values) : null };
  });
}
