// An in-place caption (or transcript) editor with a visible state and conflict detection.
//
// It remembers the text as loaded. Before saving it re-reads the text on disk: if that differs
// from what was loaded, someone else changed it, so it shows both versions and lets the user
// choose instead of silently overwriting. Saves on blur and on Ctrl+Enter (Cmd+Enter on a Mac).

import * as api from "./api.js";
import { h } from "./dom.js";

const LABELS = { idle: "", dirty: "Unsaved", saving: "Saving…", saved: "Saved", failed: "Failed", conflict: "Conflict" };

/**
 * @param {object} options
 * @param {string} options.initial   the text as loaded
 * @param {{load: () => Promise<string>, save: (text: string) => Promise<void>}} options.target
 *        where the text lives: load() reads it on disk now, save() writes it
 * @param {string} options.label     accessible name
 * @param {string} [options.placeholder]
 * @param {(text: string) => void} [options.onSaved]
 */
export function captionEditor({ initial, target, label, placeholder = "No caption", onSaved }) {
  let loaded = initial;
  let busy = null;
  let again = false;

  const textarea = h("textarea", { class: "caption", rows: 3, "aria-label": label, placeholder, spellcheck: "true", value: initial });
  const status = h("span", { class: "save-state", role: "status", "aria-live": "polite" });
  const conflict = h("div", { class: "conflict", role: "alert", hidden: true });
  const root = h("div", { class: "caption-editor", dataset: { state: "idle" } }, textarea, h("div", { class: "caption-foot" }, status), conflict);

  const setState = (state, detail = "") => {
    root.dataset.state = state;
    status.textContent = detail ? `${LABELS[state]}: ${detail}` : LABELS[state];
    status.title = detail;
  };

  const write = async (text) => {
    setState("saving");
    await target.save(text);
    loaded = text;
    conflict.hidden = true;
    setState("saved");
    if (onSaved) onSaved(text);
  };

  const showConflict = (onDisk) => {
    setState("conflict", "changed on disk since it was loaded");
    conflict.replaceChildren(
      h("p", {}, "The caption changed on disk since you opened it. On disk now:"),
      h("blockquote", { class: "disk-text" }, onDisk || "(empty)"),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "keep-mine", onclick: () => write(textarea.value).catch((err) => setState("failed", err.message)) }, "Overwrite with mine"),
        h("button", { type: "button", class: "use-disk", onclick: () => {
          loaded = onDisk;
          textarea.value = onDisk;
          conflict.hidden = true;
          setState("idle");
        } }, "Use the disk version")),
    );
    conflict.hidden = false;
  };

  const commitOnce = async () => {
    const text = textarea.value;
    if (text === loaded) {
      if (root.dataset.state === "dirty") setState("idle");
      return;
    }
    if (root.dataset.state === "conflict") return; // the user must choose first
    setState("saving");
    try {
      const onDisk = await target.load();
      if (onDisk !== loaded) {
        showConflict(onDisk);
        return;
      }
      await write(text);
    } catch (err) {
      setState("failed", err.message);
    }
  };

  // One save at a time; an edit made during a save is committed right after it.
  const commit = async () => {
    if (busy) {
      again = true;
      return busy;
    }
    busy = commitOnce();
    try {
      await busy;
    } finally {
      busy = null;
    }
    if (again) {
      again = false;
      await commit();
    }
  };

  textarea.addEventListener("input", () => {
    if (root.dataset.state !== "conflict") setState(textarea.value === loaded ? "idle" : "dirty");
  });
  textarea.addEventListener("blur", () => { commit(); });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      commit();
    }
  });

  return {
    root,
    textarea,
    commit,
    get loaded() { return loaded; },
    // Another editor of the same caption saved: adopt its text unless this one has edits.
    sync(text) {
      if (textarea.value === loaded) textarea.value = text;
      loaded = text;
    },
  };
}

// -- where a caption lives ---------------------------------------------------------------------
// {load, save} for captionEditor. A file's own sidecar goes through the spec's sidecar fields
// ({"caption"} / {"metadata"} on the media file). A group's shared caption (edit_001.txt for
// edit_001_input.png + edit_001_target.png) is edited as the text file itself, since a caption
// written through a role file would land in that file's own sidecar instead.

export function sidecarTarget(datasetId, mediaPath, field = "caption") {
  return {
    load: async () => (await api.fileInfo(datasetId, mediaPath))[field] ?? "",
    save: (text) => api.updateFile(datasetId, mediaPath, { [field]: text }),
  };
}

function toBase64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function textFileTarget(datasetId, txtPath, exists) {
  let present = exists;
  return {
    load: async () => {
      const response = await api.send(api.fileUrl(datasetId, txtPath));
      if (response.status === 404) {
        present = false;
        return "";
      }
      if (!response.ok) throw new api.ApiError(response.status, `${response.status} ${response.statusText}`);
      present = true;
      return response.text();
    },
    save: async (text) => {
      const body = { data: toBase64(text) };
      if (present) await api.updateFile(datasetId, txtPath, body);
      else await api.createFile(datasetId, txtPath, body);
      present = true;
    },
  };
}

const stemOf = (path) => {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash ? path.slice(0, dot) : path;
};

// The target for a listing entry whose main file is `mediaPath`: the caption file the listing
// read, when the entry has one that is not that file's own sidecar (a group's shared caption);
// else the caption is written through the entry's image (a pair's target), and the server puts
// a new one where the dataset keeps its captions (caption_home.py): one rule, the server's.
export function entryTarget(datasetId, entry, mediaPath) {
  const own = `${stemOf(mediaPath)}.txt`;
  if (entry.caption_path && entry.caption_path !== own) return textFileTarget(datasetId, entry.caption_path, true);
  const target = (entry.files || []).find((f) => f.file_type === "target");
  return sidecarTarget(datasetId, entry.caption_path || !target ? mediaPath : target.path);
}
