// Dataset view: a paged gallery of thumbnails with in-place captions (images), or rows with an
// audio player and an editable transcript (audio). Keyboard: arrows move between items, Enter
// edits the caption, Escape leaves the editor, Space opens the detail view.

import * as api from "./api.js";
import { bulkPanel } from "./bulk.js";
import { captionEditor, entryTarget, sidecarTarget } from "./caption.js";
import { openDetail } from "./detail.js";
import { folderTree } from "./folders.js";
import { clear, formatBytes, h } from "./dom.js";
import { hasPairs, kindOf, Listing, primaryPath } from "./listing.js";
import { Selection, selectBox } from "./selection.js";
import { datasetHeader, filterBar, stateFrom } from "./toolbar.js";
import { uploadZone } from "./upload.js";

// Thumbnails load when their card comes near the viewport, whether or not a token is needed.
function lazyLoader() {
  const observer = new IntersectionObserver((records) => {
    for (const record of records) {
      if (!record.isIntersecting) continue;
      observer.unobserve(record.target);
      const img = record.target;
      api.showMedia(img, img.dataset.src).catch((err) => showBroken(img.closest(".item"), err.message));
    }
  }, { rootMargin: "400px 0px" });
  return observer;
}

// A file the server could not decode: say so at the top of its card, in the server's words.
function showBroken(card, message) {
  if (!card || card.querySelector(".card-error")) return;
  card.classList.add("broken");
  card.prepend(h("p", { class: "card-error error", role: "alert" }, message || "This file could not be read"));
}

// <img> errors say nothing: ask the server why, with the same URL.
async function explainBroken(card, url) {
  let message = "";
  try {
    const response = await api.send(url);
    if (!response.ok) message = (await response.json().catch(() => ({}))).error || `${response.status} ${response.statusText}`;
  } catch (err) {
    message = err.message;
  }
  showBroken(card, message);
}

// The server's verdict on a file it checked (an upload that does not decode), if any.
export function checkFailure(entry) {
  const check = entry.check;
  if (check && typeof check === "object" && check.ok === false) return check.error || "This file does not decode";
  return typeof entry.check_error === "string" ? entry.check_error : "";
}

function mediaFile(entry) {
  const files = entry.files || [];
  const primary = primaryPath(entry);
  return files.find((f) => f.path === primary) || { path: primary, name: entry.name };
}

// The caption of an image (its sidecar, or its group's shared .txt), or the transcript of an
// audio file (its metadata.csv row when the dataset has one, else its .txt sidecar).
function targetFor(datasetId, entry, useMetadata) {
  const path = primaryPath(entry);
  return useMetadata ? sidecarTarget(datasetId, path, "metadata") : entryTarget(datasetId, entry, path);
}

function imageCard(datasetId, entry, loader, openAt, select) {
  const path = primaryPath(entry);
  const kind = kindOf(path);
  const target = targetFor(datasetId, entry, false);
  const editor = captionEditor({ initial: entry.caption || "", target, label: `Caption of ${path}`, onSaved: (text) => { entry.caption = text; } });
  const card = h("article", { class: "item", tabindex: "-1", dataset: { path } });
  let visual;
  const failure = checkFailure(entry);
  if (kind === "image" && failure) {
    // Known bad: no thumbnail request that can only fail.
    visual = h("span", { class: "placeholder" }, "✕");
  } else if (kind === "image") {
    const src = api.fileUrl(datasetId, path, { thumb: 256 });
    visual = h("img", { alt: path, loading: "lazy", decoding: "async", dataset: { src } });
    visual.addEventListener("error", () => explainBroken(card, src), { once: true });
    loader.observe(visual);
  } else {
    visual = h("span", { class: "placeholder" }, kind === "video" ? "▶" : (path.split(".").pop() || "?").toUpperCase());
  }
  const thumb = h("button", { type: "button", class: "thumb", tabindex: "-1", "aria-label": `Open ${path}`, onclick: () => openAt(card) }, visual);
  card.append(
    select(path),
    thumb,
    h("div", { class: "item-meta" }, h("span", { class: "name", title: path }, path),
      Number.isFinite(entry.width) && Number.isFinite(entry.height) ? h("span", { class: "muted dims" }, `${entry.width}×${entry.height}`) : null,
      h("span", { class: "muted" }, formatBytes(mediaFile(entry).size_bytes))),
    editor.root,
  );
  if (failure) showBroken(card, failure);
  card.editor = editor;
  card.target = target;
  card.entry = entry;
  return card;
}

// A file of an audio dataset that is not audio (metadata.csv, a readme): listed, not edited.
function plainRow(datasetId, entry) {
  const path = primaryPath(entry);
  const row = h("article", { class: "item audio-row plain", tabindex: "-1", dataset: { path } },
    h("div", { class: "item-meta" }, h("span", { class: "name", title: path }, path), h("span", { class: "muted" }, formatBytes(mediaFile(entry).size_bytes))),
    h("a", { href: api.fileUrl(datasetId, path), target: "_blank", rel: "noopener" }, "Open file"));
  row.entry = entry;
  return row;
}

function audioRow(datasetId, entry, useMetadata, select, openAt) {
  const path = primaryPath(entry);
  if (kindOf(path) !== "audio") return plainRow(datasetId, entry);
  // The listing's caption is the metadata.csv row when `caption_source` says so; an entry with
  // a .txt shows that instead, so then the row is read on its own.
  const fromRow = entry.caption_source === "metadata.csv" || !entry.caption_path;
  const initial = !useMetadata ? entry.caption || "" : fromRow ? (entry.caption_source ? entry.caption : "") : null;
  const player = h("audio", { controls: true, preload: "none", "aria-label": `Play ${path}` });
  // Without a token the browser streams the file itself (Range requests); with one it is fetched.
  if (!api.token()) player.src = api.fileUrl(datasetId, path);
  else player.addEventListener("play", () => {
    if (!player.src) api.showMedia(player, api.fileUrl(datasetId, path)).then(() => player.play());
  }, { once: true });
  const slot = h("div", { class: "transcript" });
  const row = h("article", { class: "item audio-row", tabindex: "-1", dataset: { path } },
    h("div", { class: "item-meta" }, select(path), h("span", { class: "name", title: path }, path), h("span", { class: "muted" }, formatBytes(mediaFile(entry).size_bytes)),
      h("button", { type: "button", class: "details", onclick: () => openAt(row) }, "Details")),
    player,
    slot);
  const mount = (text) => {
    row.target = targetFor(datasetId, entry, useMetadata);
    row.editor = captionEditor({
      initial: text,
      target: row.target,
      label: `${useMetadata ? "Transcript" : "Caption"} of ${path}`,
      placeholder: useMetadata ? "No transcript" : "No caption",
    });
    slot.replaceChildren(row.editor.root);
  };
  if (initial !== null) mount(initial);
  else {
    // The listing carries captions, not metadata.csv rows: read this row's transcript.
    slot.textContent = "Loading transcript…";
    api.fileInfo(datasetId, path).then((info) => mount(info.metadata ?? ""), (err) => { slot.textContent = err.message; });
  }
  row.entry = entry;
  return row;
}

// Roving focus: one item is in the tab order; arrow keys move it.
function keyboard(grid, pager, openAt) {
  const items = () => [...grid.querySelectorAll(".item")];
  const columns = (list) => {
    if (list.length < 2) return 1;
    const top = list[0].offsetTop;
    const index = list.findIndex((el) => el.offsetTop !== top);
    return index < 0 ? list.length : index;
  };
  const focusItem = (el) => {
    for (const other of grid.querySelectorAll(".item[tabindex='0']")) other.tabIndex = -1;
    el.tabIndex = 0;
    el.focus();
    el.scrollIntoView({ block: "nearest" });
  };
  grid.addEventListener("focusin", (event) => {
    const item = event.target.closest(".item");
    if (item && item.tabIndex !== 0) {
      for (const other of grid.querySelectorAll(".item[tabindex='0']")) other.tabIndex = -1;
      item.tabIndex = 0;
    }
  });
  grid.addEventListener("keydown", (event) => {
    const list = items();
    if (event.target.matches("textarea")) {
      if (event.key === "Escape") {
        event.preventDefault();
        focusItem(event.target.closest(".item")); // blur saves
      }
      return;
    }
    const item = event.target.closest(".item");
    if (!item || event.target !== item) return;
    const index = list.indexOf(item);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(list), ArrowUp: -columns(list), Home: -index, End: list.length - 1 - index }[event.key];
    if (step !== undefined) {
      event.preventDefault();
      const target = index + step;
      if (target >= 0 && target < list.length) focusItem(list[target]);
      else if (target >= list.length && (event.key === "ArrowRight" || event.key === "ArrowDown")) pager.step(1);
      else if (target < 0 && (event.key === "ArrowLeft" || event.key === "ArrowUp")) pager.step(-1);
      return;
    }
    if (event.key === "Enter") {
      event.preventDefault();
      const textarea = item.querySelector("textarea");
      if (textarea) {
        textarea.focus();
        textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      }
    } else if (event.key === " " && !item.classList.contains("plain")) {
      event.preventDefault();
      openAt(item);
    } else if (event.key === "x") {
      item.querySelector(".select-box")?.click();
    }
  });
  return { focusFirst: () => { const first = items()[0]; if (first) focusItem(first); }, focusItem };
}

export async function renderDataset(view, datasetId, params) {
  let dataset;
  try {
    dataset = await api.getDataset(datasetId);
  } catch (err) {
    clear(view, h("p", { class: "error", role: "alert" }, err.message), h("a", { href: "#/" }, "Back to datasets"));
    return null;
  }
  const audio = dataset.type === "audio";
  const useMetadata = audio && (await api.fileExists(datasetId, "metadata.csv"));
  // Asked once the first page shows: its listing would compete with the first thumbnails.
  let pairsKnown;
  const pairs = new Promise((resolve) => { pairsKnown = resolve; });
  const state = stateFrom(params, audio ? 50 : 100);
  const listing = new Listing(datasetId);
  const loader = lazyLoader();
  const grid = h("div", { class: audio ? "rows" : "grid", id: "gallery", role: "list", "aria-label": "Files" });
  const empty = h("p", { class: "empty", hidden: true }, "Nothing here matches.");
  const listError = h("p", { class: "error", role: "alert", hidden: true });
  let generation = 0;
  let lastTotal = 0;

  // Selection and bulk actions: boxes on the cards, a panel while anything is selected.
  const pagePaths = () => [...grid.querySelectorAll(".item")].map((el) => el.dataset.path);
  const syncSelection = () => {
    for (const el of grid.querySelectorAll(".item")) {
      const on = selection.has(el.dataset.path);
      el.classList.toggle("selected", on);
      const box = el.querySelector(".select-box");
      if (box) box.checked = on;
    }
    bulk.update();
  };
  const selection = new Selection(() => syncSelection());
  // After a bulk action (a move or delete changes the folders too).
  const bulk = bulkPanel(datasetId, selection, () => { listing.everything = null; load(); tree.reload(); });
  // The listing's filter, as the bulk endpoint's `select.filter` takes it.
  const currentFilter = () => {
    const filter = { media: true };
    if (state.q) filter.q = state.q;
    if (state.folder) filter.folder = state.folder;
    if (state.missing) filter.missing = "caption";
    return filter;
  };
  const selectAll = h("button", { type: "button", id: "select-all", onclick: () => selection.selectMatching(currentFilter(), lastTotal) }, "Select all matching");

  const openAt = (card) => openDetail({
    datasetId,
    cards: [...grid.querySelectorAll(".item")],
    start: card,
    onClose: (last) => nav.focusItem(last),
  });

  const load = async () => {
    const mine = ++generation;
    grid.setAttribute("aria-busy", "true");
    try {
      const { entries, total } = await listing.page(state);
      if (mine !== generation) return; // a newer filter already asked
      if (!entries.length && total && state.offset >= total) {
        state.offset = Math.max(0, Math.floor((total - 1) / state.limit) * state.limit);
        pager.step(0);
        return;
      }
      api.releaseMedia(grid);
      const select = (path) => selectBox(path, selection, pagePaths);
      clear(grid, entries.map((entry) => (audio ? audioRow(datasetId, entry, useMetadata, select, openAt) : imageCard(datasetId, entry, loader, openAt, select))));
      lastTotal = total;
      selectAll.textContent = `Select all ${total.toLocaleString()} matching`;
      syncSelection();
      for (const el of grid.children) el.setAttribute("role", "listitem");
      const first = grid.querySelector(".item");
      if (first) first.tabIndex = 0;
      empty.hidden = entries.length > 0;
      listError.hidden = true;
      pager.update(total, entries.length);
    } catch (err) {
      listError.textContent = err.message;
      listError.hidden = false;
    } finally {
      grid.removeAttribute("aria-busy");
    }
  };

  const pager = filterBar(params, state, () => {
    // A new filter: "all matching" meant the old one (paging keeps it).
    if (selection.matching && JSON.stringify(selection.matching.filter) !== JSON.stringify(currentFilter())) selection.clear();
    load();
  });
  const nav = keyboard(grid, pager, openAt);
  const tree = folderTree(datasetId, () => state.folder, (folder) => {
    pager.setFolder(folder);
    tree.draw();
    upload.showWhere();
  });
  const upload = uploadZone(datasetId, () => { listing.everything = null; load(); tree.reload(); }, { audio, folder: () => state.folder });

  clear(view,
    datasetHeader(dataset, "gallery", { pairs }),
    h("div", { class: "with-sidebar" },
      tree.root,
      h("div", { class: "main-column" },
        pager.root,
        h("div", { class: "select-bar" }, selectAll),
        bulk.root,
        upload.root,
        listError,
        grid,
        empty)));
  await load();
  pairsKnown(hasPairs(dataset));
  tree.reload(); // after the first page
  return () => {
    loader.disconnect();
    upload.dispose();
  };
}
