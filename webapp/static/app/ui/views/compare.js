// Compare view: every variant side by side (download, load time, median latency, agreement, accuracy).
import { $, formatBytes, formatMs, formatPercent, h } from "../dom.js";
import { withProgress } from "../progress.js";
import { reportError } from "../toast.js";

export class CompareView {
  constructor(engine, backendOf) {
    this.engine = engine;
    this.backendOf = backendOf;
    this.modelId = null;
    $("#compare-run").addEventListener("click", () => this.run().catch(reportError));
  }

  setModel(id) {
    this.modelId = id;
    $("#compare-table tbody").replaceChildren();
    $("#view-compare").dataset.state = "idle";
  }

  async run() {
    const button = $("#compare-run");
    button.disabled = true;
    $("#view-compare").dataset.state = "running";
    try {
      const rows = await withProgress("Comparing variants", ({ onProgress, signal }) =>
        this.engine.compare({ modelId: this.modelId, ...this.backendOf() }, { onProgress, signal }),
      );
      this.render(rows);
      $("#view-compare").dataset.state = "done";
      return rows;
    } catch (error) {
      $("#view-compare").dataset.state = "idle";
      throw error;
    } finally {
      button.disabled = false;
    }
  }

  render(rows) {
    const body = rows.map((row) => {
      const runtime = row.target === "tfjs" ? `TFJS ${row.backend || ""}` : "TFLite";
      if (row.error) {
        return h(
          "tr",
          { className: "failed", dataset: { variant: row.variant } },
          h("td", {}, row.variant),
          h("td", { className: "nowrap" }, runtime),
          h("td", { className: "num" }, formatBytes(row.bytes)),
          h("td", { colSpan: 4, className: "error" }, row.error),
        );
      }
      return h(
        "tr",
        { dataset: { variant: row.variant } },
        h("td", {}, row.variant, row.reference ? h("span", { className: "tag" }, "reference") : null),
        h("td", { className: "nowrap" }, runtime),
        h("td", { className: "num" }, formatBytes(row.bytes)),
        h("td", { className: "num" }, formatMs(row.loadMs)),
        h("td", { className: "num" }, formatMs(row.medianMs)),
        h("td", { className: "num" }, formatPercent(row.agreement)),
        h("td", { className: "num" }, formatPercent(row.accuracy)),
      );
    });
    $("#compare-table tbody").replaceChildren(...body);
  }
}
