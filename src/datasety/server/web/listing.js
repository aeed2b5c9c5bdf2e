// One page of a dataset listing, and what the UI needs to know about each entry.
//
// The server pages, sorts and filters (`limit`, `offset`, `q`, `missing=caption`, `sort`,
// `order`, `folder`; docs/api-additions.md) and says how many
// entries match (`total`). A server that answers without `total` only speaks the spec's plain
// listing: then the whole listing is fetched once and filtered and paged here.

import * as api from "./api.js";

const IMAGE = new Set([".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif", ".heic"]);
const AUDIO = new Set([".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus", ".wma"]);
const VIDEO = new Set([".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"]);

export function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot > name.lastIndexOf("/") && dot >= 0 ? name.slice(dot).toLowerCase() : "";
}

export function kindOf(name) {
  const ext = extension(name);
  if (IMAGE.has(ext)) return "image";
  if (AUDIO.has(ext)) return "audio";
  if (VIDEO.has(ext)) return "video";
  if (ext === ".txt") return "caption";
  return "other";
}

// The entry's main file: the one it is named after.
export function primaryPath(entry) {
  const named = (entry.files || []).find((f) => f.name === entry.name);
  if (named) return named.path;
  return entry.path ? `${entry.path}/${entry.name}` : entry.name;
}

// What the listing shows but is no item of the dataset: its metadata.csv, and a .txt that
// belongs to no media file (notes.txt). The server marks them (`item: false`); an older server
// does not, so the same rule is applied here.
export function isItem(entry) {
  if (typeof entry.item === "boolean") return entry.item;
  const files = entry.files || entry.all_files || [];
  if (!files.length) return true;
  if (!entry.path && (entry.name === "metadata.csv" || files.every((f) => f.name === "metadata.csv"))) return false;
  return !files.every((f) => f.file_type === "caption" || kindOf(f.name) === "caption");
}

// The file_type of a file that plays a role in a pair.
export const ROLE_TYPES = new Set(["input", "target", "mask", "control", "canny", "pose", "seg", "depth", "normal"]);

// A group with two or more role files (input + target, ...) is a pair.
export function isPair(pair) {
  const files = pair.files || pair.all_files || [];
  return files.filter((f) => ROLE_TYPES.has(f.file_type)).length >= 2;
}

// Whether the dataset has pairs: the server's `has_pairs` when it sends one, else a look at the
// first groups of its listing. Audio datasets have none.
export async function hasPairs(dataset) {
  if (typeof dataset.has_pairs === "boolean") return dataset.has_pairs;
  if (dataset.type === "audio") return false;
  try {
    const body = await api.listFiles(dataset.id, { group: "true", limit: 200 });
    return (body.pairs || []).some(isPair);
  } catch {
    return false;
  }
}

function matches(entry, q, missing) {
  if (missing && (entry.caption || "").trim()) return false;
  if (!q) return true;
  const needle = q.toLowerCase();
  const label = entry.name ? primaryPath(entry) : entry.base || "";
  return `${label}\n${entry.caption || ""}`.toLowerCase().includes(needle);
}

export class Listing {
  constructor(datasetId, { group = false } = {}) {
    this.datasetId = datasetId;
    this.group = group;
    this.everything = null; // the whole listing, only for a server without paging
  }

  // -> {entries, total}
  async page({ q = "", missing = false, offset = 0, limit = 100, sort = "", order = "", folder = "" }) {
    const key = this.group ? "pairs" : "files";
    if (!this.everything) {
      // media: no metadata.csv or stray .txt items; dims: width and height on each entry.
      const params = { limit, offset, q, missing: missing ? "caption" : "", sort, order: sort ? order : "", folder, media: "true" };
      if (this.group) params.group = "true";
      else params.dims = "true";
      const body = await api.listFiles(this.datasetId, params);
      if (Number.isFinite(body.total)) {
        const all = body[key] || [];
        const entries = all.filter(isItem);
        // Entries the server lists but marks as no item leave the count too (an older server).
        return { entries, total: body.total - (all.length - entries.length) };
      }
      this.everything = body[key] || [];
    }
    const found = this.everything.filter((entry) => isItem(entry) && matches(entry, q, missing));
    return { entries: found.slice(offset, offset + limit), total: found.length };
  }
}
