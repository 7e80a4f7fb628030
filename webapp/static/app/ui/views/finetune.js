// Fine-tune view: collect labelled samples, train in the engine worker, keep the results in this browser,
// download them, or convert them for mobile on the server. Composes the panels in ui/finetune/.
import { $ } from "../dom.js";
import { ConversionsPanel } from "../finetune/conversions.js";
import { SamplePanel } from "../finetune/samples.js";
import { SavedPanel } from "../finetune/saved.js";
import { TrainPanel } from "../finetune/trainer.js";
import { UnsavedPanel } from "../finetune/unsaved.js";
import { flush } from "../outbox.js";
import { reportError } from "../toast.js";

export class FinetuneView {
  /** hooks: onSavedChange(summaries), onUse(key), onRemoved(key), onConverted(result) */
  constructor(engine, hooks) {
    this.samples = new SamplePanel();
    this.saved = new SavedPanel({
      onChange: async (items) => {
        this.trainer.setSaved(items);
        // The inference view lists the models kept unsaved in this tab too (newest first, as saved ones).
        const unsaved = this.unsaved.items.filter((item) => item.baseId === this.saved.modelId).reverse();
        await hooks.onSavedChange([...unsaved, ...items]);
      },
      onUse: hooks.onUse,
      onRemoved: hooks.onRemoved,
    });
    this.unsaved = new UnsavedPanel(engine, { onChange: () => this.saved.refresh() });
    this.trainer = new TrainPanel(engine, this.samples, {
      onSaved: (summary) => (summary.unsaved ? this.unsaved.add(summary) : this.saved.refresh()),
    });
    this.conversions = new ConversionsPanel({ onConverted: hooks.onConverted });
    // Queued conversions go out when the network returns (and on start, from main.js).
    window.addEventListener("online", () => flush().catch((error) => reportError(error, "upload")));
    this.conversions.refresh().catch(reportError);
  }

  /** The saved list now (the inference view lists them too); the training setup when the view is shown. */
  async setModel(id, manifest) {
    this.model = { id, manifest, ready: null };
    const image = Boolean(manifest.preprocessing && manifest.preprocessing.kind === "image");
    $("#ft-unsupported").hidden = image;
    $("#ft-workspace").hidden = !image;
    $("#view-finetune").dataset.state = "loading";
    this.samples.setModel(manifest);
    this.trainer.modelId = id;
    this.trainer.manifest = manifest;
    this.items = await this.saved.setModel(id);
    if (!$("#view-finetune").hidden) await this.activate();
  }

  /** Reads the start model's layers and classes (once per model); a failure shows here, not at start-up. */
  activate() {
    const model = this.model;
    if (!model || model.ready) return model ? model.ready : Promise.resolve();
    const image = !$("#ft-workspace").hidden;
    model.ready = (async () => {
      try {
        if (image) await this.trainer.setModel(model.id, model.manifest, this.items);
        $("#ft-train-button").disabled = false;
        $("#view-finetune").dataset.state = image ? "idle" : "unavailable";
      } catch (error) {
        $("#view-finetune").dataset.state = "unavailable";
        $("#ft-status").textContent = `Fine-tuning is not available for this model: ${error.message}`;
        $("#ft-train-button").disabled = true;
      }
    })();
    return model.ready;
  }
}
