// A small live line chart on a canvas: training loss and accuracy per batch. Drawing on a canvas needs no
// inline style, so the strict CSP is untouched.

const PAD = { left: 36, right: 36, top: 12, bottom: 22 };

function scale(values, fixedMax) {
  const max = fixedMax ?? Math.max(1e-6, ...values.filter(Number.isFinite));
  return { max, y: (v, top, height) => top + height - (Math.min(v, max) / max) * height };
}

/** series: [{label, colour, values, max?, axis: "left" | "right"}]; x runs over `points` steps. */
export function drawLines(canvas, series, { points, xLabel = "" } = {}) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const w = width - PAD.left - PAD.right;
  const h = height - PAD.top - PAD.bottom;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#c8d0da";
  ctx.lineWidth = 1;
  ctx.strokeRect(PAD.left, PAD.top, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#5b6675";
  ctx.fillText(xLabel, PAD.left, height - 6);
  const steps = Math.max(2, points || Math.max(...series.map((s) => s.values.length)));
  series.forEach((s, index) => {
    const { max, y } = scale(s.values, s.max);
    ctx.fillStyle = s.colour;
    const labelX = s.axis === "right" ? width - PAD.right + 4 : 2;
    ctx.fillText(max.toFixed(max >= 10 ? 0 : 2), labelX, PAD.top + 10);
    ctx.fillText(s.label, PAD.left + 8 + index * 90, PAD.top + 14);
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = PAD.left + (i / (steps - 1)) * w;
      if (i === 0) ctx.moveTo(x, y(v, PAD.top, h));
      else ctx.lineTo(x, y(v, PAD.top, h));
    });
    ctx.stroke();
  });
}
