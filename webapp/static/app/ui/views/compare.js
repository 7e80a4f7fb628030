// Compare view: every variant side by side (download, memory, load time, median latency, agreement,
// accuracy). Download, load time, latency, agreement and accuracy are measured here in the browser; memory
// (and the load time marked "export") is what the export measured: the manifest's peak_memory_bytes and
// load_ms per variant (a TFLite variant's RSS growth in a fresh interpreter process, a TFJS variant's
// decoded float32 weights), "—" where the manifest has none.
import { $, formatBytes, formatMs, formatPercent, h } from "../dom.js";
import { withProgress } from "../progress.js";
import { reportError } from "../toast.js";

// Dynamic-range int8 (int8 weights, float activations) is a download-size variant: the browser's runtimes
// expand its weights at run time, so it runs slower than fp32 (LiteRT.js: ~7x on MobileNetV2). Never the
// default or the automatic pick (ui/views/infer.js); marked here.
const DOWNLOAD_SIZE = {
  precisions: ["dynamic-int8"],
  title: "smaller download; runs slower than fp32 in the browser: int8 weights are expanded at run time",
};

/** The variant cell: its id, and tags for the reference and a download-size variant. */
function variantCell(row) {
  const downloadSize = DOWNLOAD_SIZE.precisions.includes(row.precision);
  return h(
    "td",
    {},
    row.variant,
    row.reference ? h("span", { className: "tag" }, "reference") : null,
    downloadSize
      ? h("span", { className: "tag download-size", title: DOWNLOAD_SIZE.title }, "download size")
      : null,
  );
}

export class CompareView {
  constructor(engine, backendOf) {
    this.engine = engine;
    this.backendOf = backendOf;
    this.modelId = null;
    this.variants = {}; // manifest.variants: the export's own measurements per variant
    $("#compare-run").addEventListener("click", () => this.run().catch(reportError));
  }

  setModel(id, manifest = null) {
    this.modelId = id;
    this.variants = (manifest && manifest.variants) || {};
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
      const runtime = `${row.target === "tfjs" ? "TFJS" : "LiteRT.js"} ${row.backend || ""}`.trim();
      if (row.error) {
        return h(
          "tr",
          { className: "failed", dataset: { variant: row.variant } },
          variantCell(row),
          h("td", { className: "nowrap" }, runtime),
          h("td", { className: "num" }, formatBytes(row.bytes)),
          this.memoryCell(row.variant),
          h("td", { colSpan: 4, className: "error" }, row.error),
        );
      }
      return h(
        "tr",
        { dataset: { variant: row.variant } },
        variantCell(row),
        h("td", { className: "nowrap" }, runtime),
        h("td", { className: "num" }, formatBytes(row.bytes)),
        this.memoryCell(row.variant),
        this.loadCell(row.variant, row.loadMs),
        h("td", { className: "num" }, formatMs(row.medianMs)),
        h("td", { className: "num" }, formatPercent(row.agreement)),
        h("td", { className: "num" }, formatPercent(row.accuracy)),
      );
    });
    $("#compare-table tbody").replaceChildren(...body);
  }

  /** Peak memory as the export measured it; "—" where the manifest has no figure (older exports). */
  memoryCell(variant) {
    const peak = (this.variants[variant] || {}).peak_memory_bytes;
    return h(
      "td",
      { className: "num memory", dataset: { peakMemoryBytes: known(peak) ? String(peak) : "" } },
      known(peak) ? formatBytes(peak) : "—",
    );
  }

  /** The load time measured here, with the export's own (Python interpreter) below where it has one. */
  loadCell(variant, loadMs) {
    const exported = (this.variants[variant] || {}).load_ms;
    return h(
      "td",
      { className: "num load" },
      formatMs(loadMs),
      known(exported)
        ? [h("br"), h("span", { className: "muted small" }, `export: ${formatMs(exported)}`)]
        : null,
    );
  }
}

const known = (value) => typeof value === "number" && Number.isFinite(value);
