// Detail view: the full-size file and its info in a modal dialog. Left/Right step through the
// current page; Escape closes and puts focus back on the item that was shown last. An image
// zooms and pans (zoom.js); audio shows its duration and waveform (waveform.js).

import * as api from "./api.js";
import { captionEditor } from "./caption.js";
import { formatBytes, h } from "./dom.js";
import { historyPanel } from "./history.js";
import { kindOf, primaryPath } from "./listing.js";
import { waveform } from "./waveform.js";
import { zoomable } from "./zoom.js";

function infoTable(rows) {
  return h("dl", { class: "info" }, rows.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// -> {element, zoom}: the file's preview, and its zoom control for an image.
function mediaElement(datasetId, path, onSize) {
  const url = api.fileUrl(datasetId, path);
  const kind = kindOf(path);
  if (kind === "image") {
    const img = h("img", { alt: path, class: "full", draggable: "false" });
    img.addEventListener("load", () => onSize(`${img.naturalWidth} × ${img.naturalHeight} px`));
    api.showMedia(img, url).catch((err) => onSize(err.message));
    const frame = h("div", { class: "zoom-frame", id: "zoom-frame" }, img);
    return { element: frame, zoom: zoomable(frame, img) };
  }
  if (kind === "audio") {
    const player = h("audio", { controls: true, class: "full" });
    api.showMedia(player, url).catch((err) => onSize(err.message));
    onSize("");
    return { element: h("div", { class: "audio-detail" }, player, waveform(datasetId, path)), zoom: null };
  }
  if (kind === "video") {
    const player = h(kind, { controls: true, class: "full" });
    api.showMedia(player, url).catch((err) => onSize(err.message));
    return { element: player, zoom: null };
  }
  return { element: h("p", { class: "muted" }, "No preview for this file type."), zoom: null };
}

export function openDetail({ datasetId, cards, start, onClose }) {
  let index = Math.max(0, cards.indexOf(start));
  let zoom = null;
  const body = h("div", { class: "detail-body" });
  const title = h("h2", { id: "detail-title" });
  const dialog = h("dialog", { class: "detail", id: "detail", "aria-labelledby": "detail-title" },
    h("header", {},
      title,
      h("div", { class: "actions" },
        h("button", { type: "button", "aria-label": "Previous file", onclick: () => show(index - 1) }, "‹"),
        h("button", { type: "button", "aria-label": "Next file", onclick: () => show(index + 1) }, "›"),
        h("button", { type: "button", class: "close", onclick: () => dialog.close() }, "Close"))),
    body);

  function show(next) {
    if (next < 0 || next >= cards.length) return;
    index = next;
    const card = cards[index];
    const entry = card.entry;
    const path = primaryPath(entry);
    title.textContent = path;
    const size = h("dd", {}, "…");
    const infoSlot = h("div", {}, "Loading file info…");
    const media = mediaElement(datasetId, path, (text) => { size.textContent = text; });
    zoom = media.zoom;
    const editor = card.editor && captionEditor({
      initial: card.editor.loaded, // the card's editor saved on blur before this opened
      label: `Caption of ${path}`,
      target: card.target,
      onSaved: (text) => { card.editor.sync(text); entry.caption = text; history?.reload(); },
    });
    // A restored version shows in both editors (unless one holds unsaved edits).
    const history = editor && historyPanel(datasetId, path, (text) => {
      editor.sync(text);
      card.editor.sync(text);
      entry.caption = text;
    });
    api.releaseMedia(body);
    body.replaceChildren(
      h("div", { class: "detail-media" }, media.element),
      h("aside", {},
        infoSlot,
        h("dl", { class: "info" }, h("dt", {}, "Dimensions"), size),
        h("h3", {}, "Files"),
        h("ul", { class: "file-list" }, (entry.files || []).map((f) =>
          h("li", {}, h("a", { href: api.fileUrl(datasetId, f.path), target: "_blank", rel: "noopener" }, f.path), " ",
            h("span", { class: "muted" }, [f.file_type, formatBytes(f.size_bytes)].filter(Boolean).join(" · "))))),
        editor ? [h("h3", {}, "Caption"), editor.root, history.root] : null));
    api.fileInfo(datasetId, path).then(
      (info) => infoSlot.replaceChildren(infoTable([
        ["Path", info.path],
        ["Size", formatBytes(info.size_bytes)],
        ["Caption file", info.caption_path],
        ["Transcript", info.metadata],
        ...Object.entries(info)
          .filter(([k, v]) => !["path", "size_bytes", "caption", "caption_path", "metadata"].includes(k) && (typeof v === "string" || typeof v === "number"))
          .map(([k, v]) => [k.replaceAll("_", " "), String(v)]),
      ])),
      (err) => { infoSlot.textContent = err.message; },
    );
  }

  dialog.addEventListener("keydown", (event) => {
    if (event.target.matches("textarea, input")) return;
    if (zoom && zoom.key(event)) {
      event.preventDefault();
      return;
    }
    if (event.key === "ArrowRight") show(index + 1);
    if (event.key === "ArrowLeft") show(index - 1);
  });
  dialog.addEventListener("close", () => {
    // The caption editor saves on blur; let that run before the dialog leaves the page.
    setTimeout(() => {
      api.releaseMedia(dialog);
      dialog.remove();
    }, 0);
    onClose(cards[index]);
  });
  document.body.append(dialog);
  show(index);
  dialog.showModal();
}
