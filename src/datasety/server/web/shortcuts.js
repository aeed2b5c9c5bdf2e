// `?` shows the keyboard shortcuts (anywhere but in a text field); Escape closes the legend.

import { h } from "./dom.js";

const SHORTCUTS = [
  ["Gallery", [
    ["← → ↑ ↓", "Move between items"], ["Home / End", "First / last item on the page"],
    ["Enter", "Edit the caption"], ["Escape", "Leave the caption (it saves)"], ["Ctrl+Enter", "Save the caption"],
    ["Space", "Open the item"], ["x", "Select or unselect the item"], ["Shift+click a box", "Select a range"],
  ]],
  ["Detail view", [
    ["← →", "Previous / next item"], ["+ / −", "Zoom in / out"], ["0", "Fit to the window"],
    ["Wheel, pinch", "Zoom at the pointer"], ["Drag, Shift+arrows", "Pan a zoomed image"], ["Escape", "Close"],
  ]],
  ["Everywhere", [["?", "This legend"]]],
];

function legend() {
  const dialog = h("dialog", { id: "shortcuts", "aria-labelledby": "shortcuts-title" },
    h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
    SHORTCUTS.map(([section, keys]) => [
      h("h3", {}, section),
      h("dl", { class: "info shortcuts" }, keys.map(([key, what]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, what)])),
    ]),
    h("form", { method: "dialog", class: "actions" }, h("button", { type: "submit" }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  return dialog;
}

const typing = (target) => target instanceof Element && target.closest("input, textarea, select, [contenteditable='true']");

export function initShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || typing(event.target) || document.getElementById("shortcuts")) return;
    event.preventDefault();
    const dialog = legend();
    document.body.append(dialog);
    dialog.showModal();
  });
}
