// One page of a dataset listing, and what the UI needs to know about each entry.
//
// The server pages and filters (`limit`, `offset`, `q`, `missing=caption`) and says how many
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
  async page({ q = "", missing = false, offset = 0, limit = 100 }) {
    const key = this.group ? "pairs" : "files";
    if (!this.everything) {
      const params = { limit, offset, q, missing: missing ? "caption" : "" };
      if (this.group) params.group = "true";
      const body = await api.listFiles(this.datasetId, params);
      if (Number.isFinite(body.total)) return { entries: body[key] || [], total: body.total };
      this.everything = body[key] || [];
    }
    const found = this.everything.filter((entry) => matches(entry, q, missing));
    return { entries: found.slice(offset, offset + limit), total: found.length };
  }
}
