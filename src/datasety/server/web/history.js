// An item's caption history (GET /v1/datasets/<id>/history?path=): every version the server
// recorded, newest first, each restorable (POST .../history/<version>/restore).

import * as api from "./api.js";
import { formatTime, h } from "./dom.js";

const SOURCES = { put: "edit", post: "edit", bulk: "bulk", restore: "restore", undo: "undo", job: "job", upload: "upload" };

/**
 * @param {string} datasetId
 * @param {string} path        the item's media path
 * @param {(text: string) => void} onRestored
 */
export function historyPanel(datasetId, path, onRestored) {
  const list = h("ol", { class: "history", id: "caption-history" }, h("li", { class: "muted" }, "Loading history…"));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const root = h("div", { class: "history-panel" }, h("h3", {}, "Caption history"), error, list);

  const load = () => api.captionHistory(datasetId, path).then((history) => {
    const versions = history.versions || [];
    if (!versions.length) return list.replaceChildren(h("li", { class: "muted" }, "No changes recorded yet."));
    list.replaceChildren(...versions.map((version) => {
      const current = version.text === history.current;
      const restore = h("button", { type: "button", class: "restore", disabled: current, onclick: async () => {
        restore.disabled = true;
        error.hidden = true;
        try {
          const answer = await api.restoreVersion(datasetId, version.id);
          onRestored(answer.text ?? "");
          await load();
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
          restore.disabled = false;
        }
      } }, current ? "Current" : "Restore");
      return h("li", { dataset: { id: String(version.id), source: version.source || "" } },
        h("div", { class: "history-head" },
          h("span", { class: "muted" }, `${formatTime(version.created_at, { short: true })} · ${SOURCES[version.source] || version.source || ""}`),
          restore),
        h("blockquote", { class: "history-text" }, version.text === null ? "(caption removed)" : version.text || "(empty)"));
    }));
    return null;
  }, (err) => {
    list.replaceChildren();
    error.textContent = err.message;
    error.hidden = false;
  });
  load();
  return { root, reload: load };
}
