// Pair view (`?group=true`): each group's input, target, mask and control images side by side,
// a compare slider between input and target, and the group's caption below, editable.

import * as api from "./api.js";
import { captionEditor, sidecarTarget, textFileTarget } from "./caption.js";
import { clear, h } from "./dom.js";
import { hasPairs, kindOf, Listing } from "./listing.js";
import { datasetHeader, filterBar, stateFrom } from "./toolbar.js";

const ROLES = ["input", "target", "mask", "canny", "pose", "seg", "depth", "normal", "image"];

// The group's caption: the file the listing read; without one, a transcript goes to the audio's
// metadata.csv row where the dataset has one, and a caption is written through the group's
// target image, the server choosing the file by the dataset's convention (caption_home.py).
function pairCaption(datasetId, pair, useMetadata) {
  const files = pair.all_files || [];
  const audio = files.find((f) => kindOf(f.name) === "audio");
  let target;
  if (pair.caption_path) target = textFileTarget(datasetId, pair.caption_path, true);
  else if (audio && useMetadata) target = sidecarTarget(datasetId, audio.path, "metadata");
  else target = sidecarTarget(datasetId, pair.target || pair.input || (audio || files[0]).path);
  return captionEditor({ initial: pair.caption || "", label: `${audio ? "Transcript" : "Caption"} of ${pair.base}`, target });
}

function image(datasetId, path, thumb, alt, onLoad) {
  const img = h("img", { alt, decoding: "async", loading: "lazy" });
  if (onLoad) img.addEventListener("load", () => onLoad(img), { once: true });
  api.showMedia(img, api.fileUrl(datasetId, path, { thumb })).catch(() => img.classList.add("broken"));
  return img;
}

function compare(datasetId, pair) {
  const frame = h("div", { class: "compare-frame", style: "--pos: 50%" });
  const fit = (img) => { frame.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`; };
  frame.append(
    image(datasetId, pair.target, 512, `${pair.base} target`, null),
    h("div", { class: "compare-over" }, image(datasetId, pair.input, 512, `${pair.base} input`, fit)),
    h("span", { class: "compare-line", "aria-hidden": "true" }));
  // The mask over both, as strong as its slider says (0: hidden).
  let maskControl = null;
  if (pair.mask) {
    const mask = image(datasetId, pair.mask, 512, `${pair.base} mask`, null);
    mask.classList.add("mask-over");
    frame.append(mask);
    const opacity = h("input", { type: "range", min: 0, max: 100, value: 0, class: "mask-opacity", "aria-label": `Mask overlay opacity of ${pair.base}` });
    opacity.addEventListener("input", () => frame.style.setProperty("--mask", String(opacity.value / 100)));
    maskControl = h("label", { class: "check mask-control" }, "Mask overlay", opacity);
  }
  const slider = h("input", { type: "range", min: 0, max: 100, value: 50, class: "compare-slider", "aria-label": `Compare input and target of ${pair.base}` });
  slider.addEventListener("input", () => frame.style.setProperty("--pos", `${slider.value}%`));
  // Dragging on the picture moves the slider too.
  const drag = (event) => {
    const box = frame.getBoundingClientRect();
    const value = Math.round(Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * 100);
    slider.value = String(value);
    frame.style.setProperty("--pos", `${value}%`);
  };
  frame.addEventListener("pointerdown", (event) => { frame.setPointerCapture(event.pointerId); drag(event); });
  frame.addEventListener("pointermove", (event) => { if (frame.hasPointerCapture(event.pointerId)) drag(event); });
  return h("figure", { class: "compare" }, frame, slider,
    h("figcaption", { class: "compare-labels" }, h("span", {}, "◀ input"), h("span", {}, "target ▶")),
    maskControl);
}

function pairCard(datasetId, pair, useMetadata) {
  const editor = pairCaption(datasetId, pair, useMetadata);
  const present = ROLES.filter((role) => pair[role]);
  const card = h("article", { class: "pair item", tabindex: "-1", dataset: { base: pair.base } },
    h("h2", { class: "pair-title" }, pair.base),
    h("div", { class: "pair-body" },
      pair.input && pair.target ? compare(datasetId, pair) : null,
      h("div", { class: "roles" }, present.map((role) =>
        h("figure", { class: "role", dataset: { role } },
          h("a", { href: api.fileUrl(datasetId, pair[role]), target: "_blank", rel: "noopener", title: pair[role] },
            image(datasetId, pair[role], 256, `${pair.base} ${role}`, null)),
          h("figcaption", {}, role))))),
    editor.root);
  card.editor = editor;
  return card;
}

export async function renderPairs(view, datasetId, params) {
  let dataset;
  try {
    dataset = await api.getDataset(datasetId);
  } catch (err) {
    clear(view, h("p", { class: "error", role: "alert" }, err.message));
    return null;
  }
  const useMetadata = dataset.type === "audio" && (await api.fileExists(datasetId, "metadata.csv"));
  const pairs = hasPairs(dataset);
  const state = stateFrom(params, 24);
  const listing = new Listing(datasetId, { group: true });
  const list = h("div", { class: "pairs", id: "pairs" });
  const empty = h("p", { class: "empty", hidden: true }, "No pairs here. Pairs are files named like edit_001_input.png + edit_001_target.png, or kept in input/ and target/ folders.");
  const listError = h("p", { class: "error", role: "alert", hidden: true });
  let generation = 0;

  const load = async () => {
    const mine = ++generation;
    try {
      const { entries, total } = await listing.page(state);
      if (mine !== generation) return;
      api.releaseMedia(list);
      clear(list, entries.map((pair) => pairCard(datasetId, pair, useMetadata)));
      empty.hidden = entries.length > 0;
      listError.hidden = true;
      pager.update(total, entries.length);
    } catch (err) {
      listError.textContent = err.message;
      listError.hidden = false;
    }
  };
  const pager = filterBar(params, state, load);
  clear(view, datasetHeader(dataset, "pairs", { pairs }), pager.root, listError, list, empty);
  await load();
  return null;
}
