// A small live line chart on a canvas: x and y axes with ticks, tick labels and axis titles, an optional second
// y axis on the right, and a legend in a strip above the plot area, so that it never covers a line (lines are
// clipped to the plot area). Drawing on a canvas needs no inline style, so the strict CSP is untouched.

const FONT = "11px system-ui, sans-serif";
const INK = "#5b6675";
const GRID = "#e3e8ee";
const FRAME = "#c8d0da";
const LEGEND_HEIGHT = 18;
const PAD = { left: 46, right: 46, top: 8 + LEGEND_HEIGHT + 6, bottom: 34 };

/** Round tick values from 0 to at least `max`: about `count` steps of 1, 2, 2.5 or 5 times a power of 10. */
export function niceTicks(max, count = 4) {
  const top = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = top / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < top + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < top) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

const plain = (v) => String(Number(v.toPrecision(3)));

/**
 * axis: {label, max?, ticks?, format?}: ticks fixed, or from 0 to the largest value (at least `max`).
 * Returns {max, ticks, format}.
 */
function resolveAxis(axis, values) {
  const largest = Math.max(axis.max ?? 0, ...values.filter(Number.isFinite));
  const ticks = axis.ticks || niceTicks(largest);
  return { ...axis, ticks, max: ticks[ticks.length - 1], format: axis.format || plain };
}

/**
 * Draws `series` ([{label, colour, points: [[x, y]], axis: "left" | "right", dash?, dots?}]) against
 * x ({label, max}), left and right ({label, max?, ticks?, format?}; right optional). Returns the layout in
 * canvas pixels: {plot: {x, y, w, h}, legend: [{label, x, y, w, h}], ticks: {x, left, right: [{value,
 * label, at}]}}; the caller may publish it (tests check that the legend stays outside the plot).
 */
export function drawChart(canvas, { x, left, right = null, series }) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const plot = { x: PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  const pointsOf = (side) => series.filter((s) => (s.axis || "left") === side).flatMap((s) => s.points);
  const xAxis = resolveAxis(
    { ticks: null, ...x },
    pointsOf("left")
      .concat(pointsOf("right"))
      .map((p) => p[0]),
  );
  xAxis.ticks = xAxis.ticks.filter((v) => Number.isInteger(v) || xAxis.max <= 2);
  const axes = {
    left: resolveAxis(
      left,
      pointsOf("left").map((p) => p[1]),
    ),
    right: right
      ? resolveAxis(
          right,
          pointsOf("right").map((p) => p[1]),
        )
      : null,
  };
  const px = (v) => plot.x + (v / xAxis.max) * plot.w;
  const py = (axis, v) => plot.y + plot.h - (Math.min(v, axis.max) / axis.max) * plot.h;
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  ctx.lineWidth = 1;
  const layout = { plot, legend: [], ticks: { x: [], left: [], right: [] } };

  // Grid and y ticks (left), y ticks (right), x ticks.
  ctx.fillStyle = INK;
  ctx.textBaseline = "middle";
  for (const [side, axis] of Object.entries(axes)) {
    if (!axis) continue;
    ctx.textAlign = side === "left" ? "right" : "left";
    for (const value of axis.ticks) {
      const at = py(axis, value);
      if (side === "left") {
        ctx.strokeStyle = GRID;
        ctx.beginPath();
        ctx.moveTo(plot.x, at);
        ctx.lineTo(plot.x + plot.w, at);
        ctx.stroke();
      }
      const label = axis.format(value);
      const edge = side === "left" ? plot.x : plot.x + plot.w;
      const out = side === "left" ? -4 : 4;
      ctx.strokeStyle = FRAME;
      ctx.beginPath();
      ctx.moveTo(edge, at);
      ctx.lineTo(edge + out, at);
      ctx.stroke();
      ctx.fillText(label, edge + out * 1.5, at);
      layout.ticks[side].push({ value, label, at });
    }
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const value of xAxis.ticks) {
    const at = px(value);
    ctx.strokeStyle = FRAME;
    ctx.beginPath();
    ctx.moveTo(at, plot.y + plot.h);
    ctx.lineTo(at, plot.y + plot.h + 4);
    ctx.stroke();
    const label = xAxis.format(value);
    ctx.fillText(label, at, plot.y + plot.h + 6);
    layout.ticks.x.push({ value, label, at });
  }
  ctx.strokeStyle = FRAME;
  ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);

  // Axis titles: x below its ticks, y ones turned along their axes, outside the tick labels.
  ctx.fillText(xAxis.label || "", plot.x + plot.w / 2, height - 13);
  for (const [side, axis] of Object.entries(axes)) {
    if (!axis || !axis.label) continue;
    ctx.save();
    ctx.translate(side === "left" ? 4 : width - 4, plot.y + plot.h / 2);
    ctx.rotate(side === "left" ? -Math.PI / 2 : Math.PI / 2);
    ctx.fillText(axis.label, 0, 0);
    ctx.restore();
  }

  // The legend: one row above the plot area.
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let legendX = plot.x;
  const legendY = 8;
  for (const s of series) {
    const w = 22 + ctx.measureText(s.label).width;
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    ctx.moveTo(legendX, legendY + LEGEND_HEIGHT / 2);
    ctx.lineTo(legendX + 16, legendY + LEGEND_HEIGHT / 2);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = INK;
    ctx.fillText(s.label, legendX + 20, legendY + LEGEND_HEIGHT / 2);
    layout.legend.push({ label: s.label, x: legendX, y: legendY, w, h: LEGEND_HEIGHT });
    legendX += w + 14;
  }

  // The lines, clipped to the plot area.
  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y, plot.w, plot.h);
  ctx.clip();
  for (const s of series) {
    const axis = axes[s.axis || "left"];
    const points = s.points.filter(([vx, vy]) => Number.isFinite(vx) && Number.isFinite(vy));
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    points.forEach(([vx, vy], i) => {
      if (i === 0) ctx.moveTo(px(vx), py(axis, vy));
      else ctx.lineTo(px(vx), py(axis, vy));
    });
    ctx.stroke();
    ctx.setLineDash([]);
    if (s.dots) {
      for (const [vx, vy] of points) {
        ctx.beginPath();
        ctx.arc(px(vx), py(axis, vy), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.restore();
  return layout;
}
