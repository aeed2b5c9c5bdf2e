// Bulk actions on the selection: caption set / prefix / suffix / remove a tag / find and replace,
// delete (to the server's trash) and move. Every action is previewed first (the server answers
// what each item would become, writing nothing); Apply then runs it, and Undo reverts it as one
// step (POST /v1/datasets/<id>/bulk and .../operations/<id>/undo, docs/api-additions.md).

import * as api from "./api.js";
import { h } from "./dom.js";

const OPS = [
  ["prefix", "Add a prefix (trigger word)"],
  ["suffix", "Add a suffix"],
  ["set", "Set the caption"],
  ["remove_tag", "Remove a tag"],
  ["replace", "Find and replace"],
  ["move", "Move to a folder"],
  ["delete", "Delete (to the trash)"],
];

// The fields each operation asks for.
function opFields(op) {
  const text = (name, label, placeholder = "") => h("label", { class: "bulk-field" }, label,
    h("input", { name, id: `bulk-${name}`, placeholder, autocomplete: "off", spellcheck: "false" }));
  const check = (name, label) => h("label", { class: "check" }, h("input", { type: "checkbox", name, id: `bulk-${name}` }), label);
  if (op === "prefix" || op === "suffix" || op === "set") return [text("text", "Text", op === "prefix" ? "ohwx, " : "")];
  if (op === "remove_tag") return [text("tag", "Tag")];
  if (op === "replace") return [text("find", "Find"), text("replace", "Replace with"), check("regex", "Regular expression"), check("ignore_case", "Ignore case")];
  if (op === "move") return [text("folder", "Folder", "rejected/")];
  return [];
}

function bodyOf(form, op, select) {
  const body = { select, op };
  for (const control of form.querySelectorAll(".bulk-fields input")) {
    body[control.name] = control.type === "checkbox" ? control.checked : control.value;
  }
  return body;
}

const MAX_SHOWN = 200; // preview rows drawn; the counts cover them all

function previewTable(result) {
  const rows = result.items.slice(0, MAX_SHOWN).map((item) => {
    const from = item.files ? item.files.join(", ") : item.before ?? "";
    const to = item.to ? item.to.join(", ") : item.files ? "trash" : item.after ?? "";
    return h("tr", { dataset: { path: item.path, status: item.status } },
      h("td", { class: "path" }, item.path),
      h("td", { class: "before" }, from),
      h("td", { class: "after" }, item.error || to),
      h("td", { class: "muted" }, item.status));
  });
  return h("table", { class: "bulk-preview", id: "bulk-preview" },
    h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", {}, "Now"), h("th", {}, "After"), h("th", {}, ""))),
    h("tbody", {}, rows));
}

/**
 * @param {string} datasetId
 * @param {import("./selection.js").Selection} selection
 * @param {() => void} onApplied  reload the listing
 */
export function bulkPanel(datasetId, selection, onApplied) {
  const count = h("strong", { id: "bulk-count" });
  const op = h("select", { id: "bulk-op", "aria-label": "Bulk action" }, OPS.map(([value, label]) => h("option", { value }, label)));
  const fields = h("div", { class: "bulk-fields" });
  const previewButton = h("button", { type: "submit", id: "bulk-preview-button" }, "Preview");
  const apply = h("button", { type: "button", class: "primary", id: "bulk-apply", disabled: true }, "Apply");
  const clearButton = h("button", { type: "button", id: "bulk-clear", onclick: () => { result.replaceChildren(); selection.clear(); } }, "Clear selection");
  const result = h("div", { class: "bulk-result", id: "bulk-result", role: "status" });
  const form = h("form", { class: "bulk card", id: "bulk-panel", hidden: true, "aria-label": "Bulk actions" },
    h("div", { class: "row" }, h("span", {}, count, " selected"), op, fields, previewButton, apply, clearButton),
    result);
  let previewed = null; // the body the shown preview was made for

  const invalidate = () => {
    previewed = null;
    apply.disabled = true;
  };
  const showFields = () => {
    fields.replaceChildren(...opFields(op.value));
    invalidate();
    result.replaceChildren();
  };
  op.addEventListener("change", showFields);
  fields.addEventListener("input", invalidate);
  showFields();

  const fail = (err) => result.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = bodyOf(form, op.value, selection.toSelect());
    previewButton.disabled = true;
    try {
      const answer = await api.bulk(datasetId, { ...body, preview: true });
      previewed = body;
      apply.disabled = answer.changed === 0;
      result.replaceChildren(
        h("p", { id: "bulk-summary" }, `${answer.changed.toLocaleString()} of ${answer.total.toLocaleString()} would change.`,
          answer.items.length > MAX_SHOWN ? ` First ${MAX_SHOWN} shown.` : ""),
        previewTable(answer));
    } catch (err) {
      fail(err);
    } finally {
      previewButton.disabled = false;
    }
  });

  apply.addEventListener("click", async () => {
    if (!previewed) return;
    apply.disabled = true;
    try {
      const answer = await api.bulk(datasetId, previewed);
      previewed = null;
      const undo = answer.id ? h("button", { type: "button", id: "bulk-undo" }, "Undo") : null;
      if (undo) {
        undo.addEventListener("click", async () => {
          undo.disabled = true;
          try {
            const undone = await api.undoOperation(datasetId, answer.id);
            result.replaceChildren(h("p", { id: "bulk-summary" }, `Undone: ${undone.restored.toLocaleString()} restored.`));
            onApplied();
          } catch (err) {
            undo.disabled = false;
            fail(err);
          }
        });
      }
      const failed = answer.items.filter((item) => item.status === "error");
      result.replaceChildren(
        h("p", { id: "bulk-summary" }, `Applied: ${answer.changed.toLocaleString()} changed`, answer.failed ? `, ${answer.failed} failed` : "", ". ", undo),
        failed.length ? h("ul", { class: "error" }, failed.slice(0, MAX_SHOWN).map((item) => h("li", {}, `${item.path}: ${item.error}`))) : null);
      if (op.value === "delete" || op.value === "move") selection.clear();
      onApplied();
    } catch (err) {
      fail(err);
    }
  });

  return {
    root: form,
    // The selection changed: show the panel while anything is selected.
    update() {
      // A finished action (its Undo) stays in view after the selection is gone.
      form.hidden = selection.count === 0 && !result.hasChildNodes();
      count.textContent = selection.count.toLocaleString();
      invalidate();
    },
  };
}
