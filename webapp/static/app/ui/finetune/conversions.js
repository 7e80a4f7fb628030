// "Convert for mobile" requests and their answers: queued (offline, or the server busy: sent again by
// itself), sending, done (the TFLite ladder's report and download links, and Delete from server) or failed
// (the server's message, and Retry).
import { $, formatBytes, formatPercent, h } from "../dom.js";
import { flush, listOutbox, onOutboxChange, removeFromOutbox, retry } from "../outbox.js";
import { reportError, toast } from "../toast.js";

const STATE_TEXT = {
  queued: "Queued: sent when the network returns",
  sending: "Converting on the server…",
  done: "Converted",
  failed: "Refused",
};

function stateText(item) {
  if (item.state === "queued" && item.retryAt) {
    return `Waiting: the server is busy, sent again at ${new Date(item.retryAt).toLocaleTimeString()}`;
  }
  return STATE_TEXT[item.state] || item.state;
}

/** Deletes a fine-tuned export from the server (only those it created); true when it is gone. */
async function deleteFromServer(exportId) {
  const response = await fetch(`/api/models/${encodeURIComponent(exportId)}`, { method: "DELETE" });
  if (response.ok || response.status === 404) return true; // 404: deleted already
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  throw new Error(`${response.status}: ${(body && body.error) || `HTTP ${response.status}`}`);
}

function reportTable(result) {
  const rows = (result.report && result.report.rows) || [];
  const byVariant = new Map(rows.map((row) => [row.variant, row]));
  const variants = Object.keys(result.files || {});
  return h(
    "table",
    { className: "report" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Variant", "Size", "Accuracy", "Agreement", "Status", "File"].map((t) => h("th", {}, t)),
      ),
    ),
    h(
      "tbody",
      {},
      ...variants.map((variant) => {
        const row = byVariant.get(variant) || {};
        const url = result.files[variant];
        return h(
          "tr",
          { dataset: { variant } },
          h("td", {}, variant),
          h("td", { className: "num" }, formatBytes(row.bytes)),
          h("td", { className: "num" }, formatPercent(row.accuracy)),
          h("td", { className: "num" }, formatPercent(row.agreement)),
          h("td", {}, row.status || "–"),
          h("td", {}, h("a", { href: url, download: url.split("/").pop() }, "download")),
        );
      }),
    ),
  );
}

export class ConversionsPanel {
  constructor({ onConverted }) {
    this.onConverted = onConverted; // (result) a new export, or null after one was deleted: the list changed
    this.seen = new Map(); // id -> state, to notice a change to "done"
    onOutboxChange((item) => {
      if (item.state === "done" && this.seen.get(item.id) !== "done") this.onConverted(item.result);
      this.refresh().catch(reportError);
    });
  }

  async refresh() {
    const items = await listOutbox();
    for (const item of items) this.seen.set(item.id, item.state);
    $("#ft-outbox").replaceChildren(...items.map((item) => this.item(item)));
    $("#ft-outbox-empty").hidden = items.length > 0;
    return items;
  }

  item(item) {
    const children = [
      h("strong", {}, item.name),
      " ",
      h("span", { className: `badge badge-${item.state}` }, stateText(item)),
      h("span", { className: "muted small" }, ` asked ${item.created.replace("T", " ").slice(0, 16)}`),
    ];
    if (item.inTab && item.state !== "done") {
      children.push(
        h("p", { className: "muted small in-tab" }, "Not stored (no storage space): kept in this tab only."),
      );
    }
    if (item.state === "queued" && item.retryAt && item.error) {
      children.push(h("p", { className: "muted small busy" }, item.error));
    }
    if (item.state === "failed") {
      children.push(h("p", { className: "error small" }, item.error));
      children.push(this.button("Retry", async () => (await retry(item.id), flush())));
    }
    if (item.state === "done" && item.result) {
      children.push(
        h("p", { className: "small" }, `New export ${item.result.id}:`),
        reportTable(item.result),
      );
      children.push(this.button("Delete from server", async () => this.deleteExport(item), "delete-export"));
    }
    if (item.state !== "sending") {
      children.push(this.button("Remove", async () => (await removeFromOutbox(item.id), this.refresh())));
    }
    return h(
      "li",
      {
        dataset: {
          id: item.id,
          state: item.state,
          exportId: item.result ? item.result.id : "",
          inTab: item.inTab ? "true" : "",
        },
      },
      ...children,
    );
  }

  async deleteExport(item) {
    await deleteFromServer(item.result.id);
    await removeFromOutbox(item.id);
    toast(`Deleted ${item.result.id} from the server.`);
    await this.refresh();
    await this.onConverted(null);
  }

  button(label, handler, className = "") {
    const button = h("button", { type: "button", className: `link ${className}`.trim() }, label);
    button.addEventListener("click", () => handler().catch(reportError));
    return button;
  }
}
