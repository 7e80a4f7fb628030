// Self-test view: every variant on its parity fixture, pass/fail with the max abs diff.
import { $, h } from "../dom.js";
import { withProgress } from "../progress.js";
import { reportError } from "../toast.js";

function formatDiff(value) {
  if (value === null || value === undefined) return "–";
  return value === 0 ? "0" : value.toExponential(2);
}

// "LiteRT.js webgpu → wasm": the model asked for webgpu ran on wasm (LiteRT.js falls back by itself).
function runtimeLabel(row) {
  const name = `${row.runtime === "tfjs" ? "TFJS" : "LiteRT.js"} ${row.backend}`;
  return row.ranOn && row.ranOn !== row.backend ? `${name} → ${row.ranOn}` : name;
}

export class SelfTestView {
  constructor(engine) {
    this.engine = engine;
    this.modelId = null;
    $("#selftest-run").addEventListener("click", () => this.run().catch(reportError));
    this.gpuReady = this.offerWebgpu();
  }

  /** A "webgpu" box beside cpu, wasm and webgl where this browser gives a WebGPU adapter. */
  async offerWebgpu() {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
    if (!adapter || document.querySelector('input[name="st-backend"][value="webgpu"]')) return;
    const box = h("input", { type: "checkbox", name: "st-backend", value: "webgpu", checked: true });
    $("#view-selftest fieldset").append(h("label", {}, box, " webgpu"));
  }

  setModel(id) {
    this.modelId = id;
    $("#selftest-table tbody").replaceChildren();
    $("#selftest-summary").textContent = "";
    $("#view-selftest").dataset.state = "idle";
  }

  backends() {
    return [...document.querySelectorAll('input[name="st-backend"]:checked')].map((box) => box.value);
  }

  async run() {
    const button = $("#selftest-run");
    button.disabled = true;
    $("#view-selftest").dataset.state = "running";
    try {
      await this.gpuReady;
      const rows = await withProgress("Self-test", ({ onProgress, signal }) =>
        this.engine.selfTest({ modelId: this.modelId, backends: this.backends() }, { onProgress, signal }),
      );
      this.render(rows);
      $("#view-selftest").dataset.state = "done";
      return rows;
    } catch (error) {
      $("#view-selftest").dataset.state = "idle";
      throw error;
    } finally {
      button.disabled = false;
    }
  }

  render(rows) {
    const body = rows.map((row) =>
      h(
        "tr",
        {
          className: row.pass ? "pass" : "fail",
          dataset: {
            variant: row.variant,
            backend: row.backend,
            ranOn: row.ranOn || "",
            pass: String(row.pass),
            diff: String(row.maxAbsDiff),
          },
        },
        h("td", {}, row.variant),
        h("td", { className: "nowrap" }, runtimeLabel(row)),
        h("td", { className: "num" }, formatDiff(row.maxAbsDiff)),
        h("td", { className: "num" }, row.tolerance === undefined ? "–" : formatDiff(row.tolerance)),
        h("td", { className: "num" }, row.top1 === null ? "–" : `${(100 * row.top1).toFixed(0)} %`),
        h(
          "td",
          {},
          h(
            "span",
            { className: row.pass ? "badge badge-pass" : "badge badge-fail" },
            row.pass ? "pass" : "fail",
          ),
          row.error ? h("span", { className: "error small" }, ` ${row.error}`) : null,
        ),
      ),
    );
    $("#selftest-table tbody").replaceChildren(...body);
    const passed = rows.filter((row) => row.pass).length;
    const summary = $("#selftest-summary");
    summary.textContent = `${passed} of ${rows.length} passed`;
    summary.className = passed === rows.length ? "summary ok" : "summary bad";
  }
}
