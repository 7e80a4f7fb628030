// After training: per-class accuracy and the confusion matrix on the held-out (validation) samples, as a table
// (rows: true class, columns: predicted class). Many classes (an ImageNet head): only the classes that occur
// in the held-out samples or their predictions get a row and a column, and the caption says so.
import { h } from "../dom.js";

const ALL_CLASSES_UP_TO = 20;

const percent = (share) => (share === null ? "–" : `${(100 * share).toFixed(0)} %`);

/** validation: {accuracy, perClass: [{count, correct, accuracy}], confusion} from the engine, or null. */
export function renderConfusion(container, labels, validation, note) {
  if (!validation) {
    container.replaceChildren(h("p", { className: "muted small" }, note || "No samples were held out."));
    container.hidden = false;
    container.dataset.classes = "0";
    container.dataset.total = "0";
    return;
  }
  const { confusion, perClass } = validation;
  const used = labels.map((_, i) => perClass[i].count > 0 || confusion.some((row) => row[i] > 0));
  const shown = labels
    .map((label, i) => ({ label, i }))
    .filter(({ i }) => labels.length <= ALL_CLASSES_UP_TO || used[i]);
  const total = perClass.reduce((sum, entry) => sum + entry.count, 0);
  const caption =
    `Held-out samples: ${total}, ${percent(validation.accuracy)} right. Rows: true class; columns: ` +
    `predicted class` +
    (shown.length < labels.length ? `; only the ${shown.length} classes that occur are shown.` : ".");
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "true ↓ predicted →"),
    ...shown.map(({ label }) => h("th", { scope: "col", className: "num" }, label)),
    h("th", { scope: "col", className: "num" }, "class accuracy"),
  );
  const rows = shown.map(({ label, i }) =>
    h(
      "tr",
      { dataset: { label, count: String(perClass[i].count) } },
      h("th", { scope: "row" }, label),
      ...shown.map(({ i: j }) =>
        h(
          "td",
          {
            className: i === j ? "num hit" : confusion[i][j] ? "num miss" : "num",
            dataset: { count: String(confusion[i][j]) },
          },
          String(confusion[i][j]),
        ),
      ),
      h(
        "td",
        { className: "num accuracy" },
        perClass[i].count
          ? `${perClass[i].correct}/${perClass[i].count} (${percent(perClass[i].accuracy)})`
          : "–",
      ),
    ),
  );
  container.replaceChildren(
    h(
      "table",
      { className: "confusion" },
      h("caption", {}, caption),
      h("thead", {}, head),
      h("tbody", {}, ...rows),
    ),
    ...(note ? [h("p", { className: "muted small" }, note)] : []),
  );
  container.hidden = false;
  container.dataset.classes = String(shown.length);
  container.dataset.total = String(total);
}
