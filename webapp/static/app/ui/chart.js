// Class probabilities as horizontal bars (DOM, widths set through element.style: allowed by the CSP).
import { h } from "./dom.js";

export function renderBars(container, labels, probabilities) {
  let best = 0;
  probabilities.forEach((p, i) => {
    if (p > probabilities[best]) best = i;
  });
  const rows = labels.map((label, i) => {
    const fill = h("span", { className: "bar-fill" });
    fill.style.width = `${(100 * probabilities[i]).toFixed(1)}%`;
    return h(
      "div",
      { className: i === best ? "bar-row best" : "bar-row", dataset: { label } },
      h("span", { className: "bar-label" }, label),
      h("span", { className: "bar-track" }, fill),
      h("span", { className: "bar-value" }, `${(100 * probabilities[i]).toFixed(1)}%`),
    );
  });
  container.replaceChildren(...rows);
  return best;
}
