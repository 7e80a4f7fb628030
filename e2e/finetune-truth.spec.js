// Fine-tuning that tells the truth: 15 % of each class is held out, the chart plots validation accuracy beside
// training accuracy on readable axes with a legend outside the plot, and after training the view shows the
// accuracy on the held-out samples and their confusion matrix. Data: the export's eval digits, inverted
// (e2e/support/digits.js).
import path from "node:path";
import { expect, openApp, test } from "./fixtures.js";
import { shiftedDigits } from "./support/digits.js";
import { addSamples, train } from "./support/finetune.js";

/** What app/model/finetune/holdout.js holds out: max(1, round(0.15 n)) of a class of n >= 2, keeping one. */
function expectedHeldOut(labels) {
  const counts = new Map();
  for (const label of labels) counts.set(label, (counts.get(label) || 0) + 1);
  let held = 0;
  for (const n of counts.values()) if (n >= 2) held += Math.min(n - 1, Math.max(1, Math.round(0.15 * n)));
  return held;
}

const intersects = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
const inside = (inner, outer) =>
  inner.x >= outer.x &&
  inner.y >= outer.y &&
  inner.x + inner.w <= outer.x + outer.w &&
  inner.y + inner.h <= outer.y + outer.h;

test("validation accuracy on held-out samples, a readable chart and the confusion matrix", async ({
  page,
  exportsDir,
}) => {
  test.setTimeout(90_000);
  const { train: trainSet } = shiftedDigits(path.join(exportsDir, "demo"));
  const heldOut = expectedHeldOut(trainSet.labels);
  await openApp(page, "#finetune");
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
  await addSamples(page, trainSet);
  const epochs = 6;
  await train(page, { epochs, learningRate: 0.01, backend: "cpu" });

  // The summary: validation first, training beside it; the head trained on cached features.
  const view = page.locator("#view-finetune");
  await expect(view).toHaveAttribute("data-cached", "true");
  await expect(view).toHaveAttribute("data-held-out", String(heldOut));
  const status = await page.locator("#ft-status").textContent();
  const said = status.match(
    /validation accuracy (\d+\.\d) % on (\d+) held-out samples \(training (\d+\.\d) %\)\.$/,
  );
  expect(said, status).not.toBeNull();
  expect(Number(said[2])).toBe(heldOut);
  const valAccuracy = Number(await view.getAttribute("data-val-accuracy"));
  expect(Number(said[1])).toBeCloseTo(100 * valAccuracy, 1);

  // The confusion matrix: one row and one column per class, counts summing to the held-out samples, its
  // diagonal the validation accuracy; per-class accuracy in the last column.
  const matrix = page.locator("#ft-confusion");
  await expect(matrix).toBeVisible();
  await expect(matrix).toHaveAttribute("data-classes", "10");
  await expect(matrix.locator("tbody tr")).toHaveCount(10);
  await expect(matrix.locator("thead th")).toHaveCount(12);
  const cells = await matrix
    .locator("tbody td[data-count]")
    .evaluateAll((tds) =>
      tds.map((td) => ({ count: Number(td.dataset.count), hit: td.classList.contains("hit") })),
    );
  expect(cells).toHaveLength(100);
  expect(cells.reduce((sum, cell) => sum + cell.count, 0)).toBe(heldOut);
  const right = cells.filter((cell) => cell.hit).reduce((sum, cell) => sum + cell.count, 0);
  expect(right / heldOut).toBeCloseTo(valAccuracy, 6);
  await expect(matrix.locator("tbody tr").first().locator("td.accuracy")).toHaveText(/^\d+\/\d+ \(\d+ %\)$/);
  await expect(matrix.locator("thead th").nth(1)).toHaveText("0"); // the export's labels, in class order

  // The chart: ticks with labels on both axes, one validation point per epoch, the legend outside the plot.
  const chart = page.locator("#ft-chart");
  await expect(chart).toHaveAttribute("data-points", new RegExp(`"valAccuracy":${epochs},`));
  const layout = JSON.parse(await chart.getAttribute("data-layout"));
  expect(layout.ticks.left.map((tick) => tick.label)).toEqual(["0 %", "25 %", "50 %", "75 %", "100 %"]);
  expect(layout.ticks.x.length).toBeGreaterThanOrEqual(3);
  expect(layout.ticks.x.map((tick) => tick.label)).toContain(String(epochs));
  expect(layout.ticks.right.length).toBeGreaterThanOrEqual(2);
  expect(layout.legend.map((entry) => entry.label)).toEqual([
    "training accuracy",
    "validation accuracy",
    "training loss",
  ]);
  const size = await chart.evaluate((canvas) => ({ w: canvas.width, h: canvas.height }));
  for (const entry of layout.legend) {
    expect(intersects(entry, layout.plot), `${entry.label} legend over the plot`).toBe(false);
    expect(inside(entry, { x: 0, y: 0, ...size }), `${entry.label} legend inside the canvas`).toBe(true);
  }
  for (let i = 1; i < layout.legend.length; i += 1) {
    expect(intersects(layout.legend[i - 1], layout.legend[i])).toBe(false);
  }
  // The pixels agree: the lines' colours appear inside the plot area and, outside it, only in the legend.
  const spill = await chart.evaluate((canvas, { plot, legend }) => {
    const colours = [
      [0x1b, 0x4f, 0x8a],
      [0x1e, 0x84, 0x49],
    ];
    const { data, width, height } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const within = (x, y, r) => x >= r.x - 1 && x <= r.x + r.w + 1 && y >= r.y - 1 && y <= r.y + r.h + 1;
    const found = { plot: [0, 0], outside: 0 };
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const at = 4 * (y * width + x);
        const colour = colours.findIndex(
          (c) => data[at + 3] > 200 && c.every((v, k) => Math.abs(data[at + k] - v) <= 8),
        );
        if (colour < 0) continue;
        if (within(x, y, plot)) found.plot[colour] += 1;
        else if (!legend.some((entry) => within(x, y, entry))) found.outside += 1;
      }
    }
    return found;
  }, layout);
  expect(spill.plot[0]).toBeGreaterThan(20); // training accuracy drawn
  expect(spill.plot[1]).toBeGreaterThan(20); // validation accuracy drawn
  expect(spill.outside).toBe(0);

  const shot = test.info().outputPath("finetune-truth.png");
  await page.locator("#ft-train").screenshot({ path: shot });
  await test.info().attach("finetune-truth", { path: shot, contentType: "image/png" });
});

test("with one sample per class nothing is held out, and the view says so", async ({ page, exportsDir }) => {
  const { train: trainSet } = shiftedDigits(path.join(exportsDir, "demo"));
  const firsts = [...new Set(trainSet.labels)].map((label) => trainSet.labels.indexOf(label));
  const one = {
    labels: firsts.map((i) => trainSet.labels[i]),
    pngs: firsts.map((i) => trainSet.pngs[i]),
  };
  await openApp(page, "#finetune");
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-state", "idle");
  await addSamples(page, one);
  await train(page, { epochs: 2, learningRate: 0.01, backend: "cpu" });
  await expect(page.locator("#view-finetune")).toHaveAttribute("data-held-out", "0");
  await expect(page.locator("#ft-status")).toHaveText(
    /; training accuracy \d+\.\d %; no validation accuracy: too few samples to hold any out \(a class needs at least 2 for one to be held out\)\.$/,
  );
  await expect(page.locator("#ft-confusion")).toHaveAttribute("data-total", "0");
  await expect(page.locator("#ft-confusion")).toContainText("too few samples to hold any out");
});
