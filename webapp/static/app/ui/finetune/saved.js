// Fine-tuned models saved in this browser: use, rename, delete, download as TFJS files, start a further
// fine-tune from, and "Convert for mobile" (queued in the outbox while offline).
import { deleteFinetuned, getFinetuned, listFinetuned, renameFinetuned } from "../../shared/store.js";
import { $, formatBytes, h } from "../dom.js";
import { downloadFiles } from "../download.js";
import { enqueue, flush } from "../outbox.js";
import { reportError, toast } from "../toast.js";
import { tfjsFiles, uploadParts, uploadUrl } from "./files.js";

function formatDate(iso) {
  return iso.replace("T", " ").slice(0, 16);
}

export class SavedPanel {
  constructor({ onChange, onUse, onRemoved }) {
    this.onRemoved = onRemoved; // (key) after a delete
    this.onChange = onChange; // (summaries) after any change
    this.onUse = onUse; // (key) "use in the inference view"
    this.modelId = null;
    this.items = [];
  }

  async setModel(modelId) {
    this.modelId = modelId;
    return this.refresh();
  }

  async refresh() {
    this.items = await listFinetuned(this.modelId);
    this.render();
    await this.onChange(this.items);
    return this.items;
  }

  action(label, handler, className = "") {
    const button = h("button", { type: "button", className }, label);
    button.addEventListener("click", () => handler().catch((error) => reportError(error, label)));
    return button;
  }

  row(item) {
    const name = h("input", { type: "text", value: item.name, ariaLabel: "Name", maxLength: 100 });
    // The final model's accuracy on its training samples (older records: the last epoch's running figure).
    const last = item.training
      ? item.training.accuracy
      : item.history.accuracy[item.history.accuracy.length - 1];
    return h(
      "tr",
      { dataset: { key: item.key, name: item.name } },
      h("td", {}, name),
      h("td", { className: "nowrap" }, formatDate(item.created)),
      h("td", { className: "num" }, String(item.labels.length)),
      h(
        "td",
        { className: "small" },
        `${item.trained.join(", ")} · ${item.samples} samples × ${item.epochs} epochs on ${item.backend}` +
          // Validation accuracy on the held-out samples first (models trained before the split have none).
          (item.validation
            ? ` · validation acc ${(100 * item.validation.accuracy).toFixed(1)} % on ${item.heldOut} held out`
            : "") +
          (last === undefined ? "" : ` · train acc ${(100 * last).toFixed(1)} %`),
      ),
      h("td", { className: "num" }, formatBytes(item.bytes)),
      h(
        "td",
        { className: "actions" },
        this.action("Use", async () => this.onUse(item.key), "use"),
        this.action("Rename", async () => this.rename(item, name.value), "rename"),
        this.action(
          "Download TFJS",
          async () => downloadFiles(tfjsFiles(await getFinetuned(item.key))),
          "download",
        ),
        this.action("Convert for mobile", async () => this.convert(item), "convert primary"),
        this.action("Delete", async () => this.remove(item), "delete"),
      ),
    );
  }

  render() {
    $("#ft-saved-table tbody").replaceChildren(...this.items.map((item) => this.row(item)));
    $("#ft-saved-empty").hidden = this.items.length > 0;
  }

  async rename(item, name) {
    await renameFinetuned(item.key, name);
    await this.refresh();
  }

  async remove(item) {
    await deleteFinetuned(item.key);
    await this.onRemoved(item.key);
    toast(`Deleted "${item.name}".`);
    await this.refresh();
  }

  async convert(item) {
    const record = await getFinetuned(item.key);
    const upload = await enqueue({
      url: uploadUrl(item.baseId),
      key: item.key,
      name: item.name,
      parts: uploadParts(record),
    });
    if (upload.inTab)
      toast(
        `No storage space to queue "${item.name}": it is sent now; keep this tab open until it is converted.`,
      );
    else if (!navigator.onLine)
      toast(`Offline: "${item.name}" is queued and will be sent when the network returns.`);
    flush().catch((error) => reportError(error, "convert for mobile"));
  }
}
