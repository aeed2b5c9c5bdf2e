// Upload by drag and drop (or a file picker) into the dataset's folder chosen in the tree, with per-file
// progress. Media files go up as raw bytes; a .txt with the same base name as a dropped file
// becomes that file's caption ({"caption": ...}); any other .txt is uploaded as it is.

import * as api from "./api.js";
import { h } from "./dom.js";
import { kindOf } from "./listing.js";

const stem = (name) => (name.lastIndexOf(".") > 0 ? name.slice(0, name.lastIndexOf(".")) : name);

// -> [{file, caption: File|null}] for media, and the .txt files that matched nothing.
export function planUpload(files) {
  const texts = new Map();
  const media = [];
  for (const file of files) {
    if (kindOf(file.name) === "caption") texts.set(stem(file.name), file);
    else media.push(file);
  }
  const plan = media.map((file) => {
    const caption = texts.get(stem(file.name)) || null;
    texts.delete(stem(file.name));
    return { file, caption };
  });
  for (const file of texts.values()) plan.push({ file, caption: null });
  return plan;
}

function progressRow(name) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": `Upload of ${name}` });
  const state = h("span", { class: "upload-state" }, "Waiting");
  const row = h("li", { dataset: { name, state: "waiting" } }, h("span", { class: "name" }, name), bar, state);
  return {
    row,
    progress(fraction) { bar.value = fraction; state.textContent = `${Math.round(fraction * 100)}%`; row.dataset.state = "uploading"; },
    // Bytes are up, a second request (the caption) is still to come: not done yet.
    step(text) { bar.value = 1; state.textContent = text; },
    done(text = "Done") { bar.value = 1; state.textContent = text; row.dataset.state = "done"; },
    failed(message) { state.textContent = message; row.dataset.state = "failed"; row.classList.add("error"); },
  };
}

async function uploadOne(datasetId, { file, caption }, ui, folder) {
  const path = folder ? `${folder}/${file.name}` : file.name;
  ui.progress(0);
  await api.uploadBytes(datasetId, path, file, (f) => ui.progress(f));
  if (caption) {
    ui.step("Caption…");
    await api.createFile(datasetId, path, { caption: await caption.text() });
  }
  ui.done(caption ? "Done, with caption" : "Done");
}

// `folder()`: the folder uploads go into ("" for the dataset's own).
export function uploadZone(datasetId, onUploaded, { audio = false, folder = () => "" } = {}) {
  const list = h("ul", { class: "uploads", id: "uploads" });
  const where = h("p", { class: "muted upload-where", id: "upload-where" });
  const picker = h("input", { type: "file", multiple: true, id: "upload-picker", class: "visually-hidden" });
  const zone = h("section", { class: "dropzone", id: "dropzone", "aria-label": "Upload" },
    h("p", {}, audio ? "Drop audio files and their .txt transcripts here, or " : "Drop images and their .txt captions here, or ",
      h("label", { for: "upload-picker", class: "link" }, "choose files"), "."),
    where, picker, list);
  // Say where the files will land: the folder chosen in the tree, if any.
  const showWhere = () => {
    const target = folder();
    where.textContent = target ? `Into ${target}/` : "";
  };

  const run = async (files) => {
    const plan = planUpload(files);
    if (!plan.length) return;
    const target = folder();
    const rows = plan.map((item) => progressRow(item.file.name));
    list.replaceChildren(...rows.map((r) => r.row));
    // Two at a time: steady progress without flooding a small server.
    let next = 0;
    let uploaded = 0;
    const worker = async () => {
      while (next < plan.length) {
        const i = next++;
        try {
          await uploadOne(datasetId, plan[i], rows[i], target);
          uploaded += 1;
        } catch (err) {
          rows[i].failed(err.message);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    if (uploaded) onUploaded();
  };

  picker.addEventListener("change", () => { run([...picker.files]); picker.value = ""; });

  // The whole page is a drop target while the dataset is open; the zone lights up.
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  const onEnter = (event) => { if (hasFiles(event)) { depth += 1; zone.classList.add("active"); } };
  const onLeave = (event) => { if (hasFiles(event) && --depth <= 0) { depth = 0; zone.classList.remove("active"); } };
  const onOver = (event) => { if (hasFiles(event)) event.preventDefault(); };
  const onDrop = (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("active");
    run([...event.dataTransfer.files]);
  };
  document.addEventListener("dragenter", onEnter);
  document.addEventListener("dragleave", onLeave);
  document.addEventListener("dragover", onOver);
  document.addEventListener("drop", onDrop);

  showWhere();
  return {
    root: zone,
    run,
    showWhere,
    dispose() {
      document.removeEventListener("dragenter", onEnter);
      document.removeEventListener("dragleave", onLeave);
      document.removeEventListener("dragover", onOver);
      document.removeEventListener("drop", onDrop);
    },
  };
}
