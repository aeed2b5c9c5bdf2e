// The dataset's folders as a tree beside the gallery: click one to show only what is under it
// (the listing's `folder`), and uploads go into the chosen folder. The counts come from the
// server's catalog (`GET .../folders`), not from reading the whole listing.

import * as api from "./api.js";
import { h } from "./dom.js";

// -> Map(folder -> number of entries directly in it), "" for the dataset's own folder.
async function folderCounts(datasetId) {
  const body = await api.datasetFolders(datasetId);
  return new Map((body.folders || []).map((folder) => [folder.path, folder.entries]));
}

// {name, path, own, total, children: Map} from "a/b" -> count.
export function buildTree(counts) {
  const root = { name: "", path: "", own: 0, total: 0, children: new Map() };
  for (const [folder, count] of counts) {
    let node = root;
    root.total += count;
    if (!folder) {
      root.own += count;
      continue;
    }
    const parts = folder.split("/");
    parts.forEach((part, i) => {
      if (!node.children.has(part)) node.children.set(part, { name: part, path: parts.slice(0, i + 1).join("/"), own: 0, total: 0, children: new Map() });
      node = node.children.get(part);
      node.total += count;
    });
    node.own += count;
  }
  return root;
}

function branch(node, current, onPick) {
  const children = [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name));
  const link = h("button", {
    type: "button",
    class: "folder",
    dataset: { folder: node.path },
    "aria-current": node.path === current ? "true" : null,
    onclick: () => onPick(node.path),
  }, node.path ? node.name : "All files", h("span", { class: "muted count" }, node.total.toLocaleString()));
  return h("li", {}, link, children.length ? h("ul", {}, children.map((child) => branch(child, current, onPick))) : null);
}

/**
 * @param {string} datasetId
 * @param {() => string} current   the folder shown now ("" for all)
 * @param {(folder: string) => void} onPick
 */
export function folderTree(datasetId, current, onPick) {
  const list = h("ul", { class: "tree", id: "folder-tree" }, h("li", { class: "muted" }, "Reading folders…"));
  // reload() reads the folders: the gallery calls it once its first page shows.
  const root = h("nav", { class: "folders card", "aria-label": "Folders" }, h("h2", {}, "Folders"), list);
  let tree = null;
  const draw = () => { if (tree) list.replaceChildren(branch(tree, current(), onPick)); };
  const reload = () => folderCounts(datasetId).then((counts) => {
    tree = buildTree(counts);
    draw();
  }, (err) => list.replaceChildren(h("li", { class: "error" }, err.message)));
  return { root, draw, reload };
}
