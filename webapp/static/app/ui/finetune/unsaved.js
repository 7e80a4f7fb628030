// Models that trained but could not be saved (the storage quota was full): one error toast that says what
// happened and what to do, a note listing them with "Save again", and their summaries for the inference
// view, which marks them "not saved". The engine worker holds their weights (app/model/finetune/unsaved.js),
// so they last as long as this tab.
import { $ } from "../dom.js";
import { reportError, toast } from "../toast.js";

const quoted = (items) => items.map((item) => `"${item.name}"`).join(", ");

export class UnsavedPanel {
  constructor(engine, { onChange }) {
    this.engine = engine;
    this.onChange = onChange; // () after any change: the lists that show these models redraw
    this.items = []; // summaries, oldest first, each with `saveError`: why it was not saved
    $("#ft-save-again").addEventListener("click", () =>
      this.saveAgain().catch((error) => reportError(error, "Save again")),
    );
  }

  async add(summary) {
    this.items.push(summary);
    reportError(
      new Error(`${summary.saveError}. Until then the model works in this tab only.`),
      "Trained but not saved",
    );
    await this.changed();
  }

  async saveAgain() {
    $("#ft-save-again").disabled = true;
    try {
      const { saved, error } = await this.engine.saveUnsaved();
      const keys = new Set(saved.map((summary) => summary.key));
      this.items = this.items.filter((item) => !keys.has(item.key));
      if (saved.length) toast(`Saved ${quoted(saved)}.`);
      await this.changed();
      if (error) throw new Error(error);
    } finally {
      $("#ft-save-again").disabled = false;
    }
  }

  async changed() {
    $("#ft-unsaved").hidden = !this.items.length;
    $("#ft-unsaved-text").textContent =
      `Not saved, kept in this tab until it is closed: ${quoted(this.items)}. ` +
      "Free some space, then save again.";
    await this.onChange();
  }
}
