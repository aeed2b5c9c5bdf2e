// Stats of a dataset (GET /v1/datasets/<id>/stats): counts by kind, caption coverage,
// resolution and aspect-ratio histograms, the top caption words and tags (a click filters the
// gallery by one), lint findings linking to their items, and the recent bulk operations with
// Undo.

import * as api from "./api.js";
import { clear, formatTime, h } from "./dom.js";
import { hasPairs } from "./listing.js";
import { datasetHeader } from "./toolbar.js";

const MAX_BARS = 12;

// A horizontal bar chart: [label, count] rows, bars relative to the largest.
function bars(id, rows) {
  const most = Math.max(1, ...rows.map(([, count]) => count));
  return h("ul", { class: "bars", id },
    rows.slice(0, MAX_BARS).map(([label, count]) => h("li", {},
      h("span", { class: "bar-label" }, label),
      h("span", { class: "bar", style: `--share: ${(count / most) * 100}%` }),
      h("span", { class: "bar-count" }, count.toLocaleString()))),
    rows.length > MAX_BARS ? h("li", { class: "muted" }, `${rows.length - MAX_BARS} more`) : null);
}

// Words and tags: each one a link to the gallery filtered by it.
function terms(id, datasetId, rows) {
  const gallery = `#/d/${encodeURIComponent(datasetId)}`;
  return h("ul", { class: "terms", id }, rows.map(([term, count]) =>
    h("li", {}, h("a", { href: `${gallery}?q=${encodeURIComponent(term)}`, dataset: { term } }, term, " ", h("span", { class: "muted" }, count.toLocaleString())))));
}

// inspect's findings ({kind: [path | [paths] | {file, ...}]}) as rows of {kind, paths, message}.
export function flattenLint(lint) {
  const rows = [];
  for (const [kind, findings] of Object.entries(lint || {})) {
    for (const finding of findings || []) {
      if (typeof finding === "string") rows.push({ kind, paths: [finding], message: "" });
      else if (Array.isArray(finding)) rows.push({ kind, paths: finding, message: "" });
      else {
        const paths = ["file", "input", "target", "mask", "image"].map((key) => finding[key]).filter((v) => typeof v === "string");
        const message = Object.entries(finding).filter(([key]) => !["file", "input", "target", "mask", "image"].includes(key))
          .map(([key, value]) => `${key.replaceAll("_", " ")}: ${Array.isArray(value) ? value.join("×") : value}`).join(", ");
        rows.push({ kind, paths, message });
      }
    }
  }
  return rows;
}

// Each finding links to its items: the gallery filtered by the path.
function lintList(datasetId, rows) {
  if (!rows.length) return h("p", { class: "muted", id: "lint" }, "No findings.");
  const gallery = `#/d/${encodeURIComponent(datasetId)}`;
  return h("ul", { class: "lint", id: "lint" }, rows.slice(0, 500).map((row) => h("li", { dataset: { kind: row.kind } },
    h("span", { class: "badge" }, row.kind.replaceAll("_", " ")), " ",
    row.paths.map((path, i) => [i ? ", " : "", h("a", { href: `${gallery}?q=${encodeURIComponent(path)}`, dataset: { path } }, path)]),
    row.message ? h("span", { class: "muted" }, ` ${row.message}`) : null)),
  rows.length > 500 ? h("li", { class: "muted" }, `${rows.length - 500} more`) : null);
}

function operations(datasetId, list, onUndone) {
  if (!list.length) return h("p", { class: "muted", id: "operations" }, "No bulk operations yet.");
  return h("ul", { class: "operations", id: "operations" }, list.map((op) => {
    const state = h("span", { class: "muted" }, op.undone_at ? `undone ${formatTime(op.undone_at, { short: true })}` : "");
    const undo = op.undone_at ? null : h("button", { type: "button", class: "undo", onclick: async () => {
      undo.disabled = true;
      try {
        await api.undoOperation(datasetId, op.id);
        onUndone();
      } catch (err) {
        state.textContent = err.message;
        state.className = "error";
        undo.disabled = false;
      }
    } }, "Undo");
    return h("li", { dataset: { id: op.id } }, h("strong", {}, op.op.replaceAll("_", " ")), ` · ${Number(op.items).toLocaleString()} items · ${formatTime(op.created_at, { short: true })} `, undo, state);
  }));
}

function section(title, ...body) {
  return h("section", { class: "card stat" }, h("h2", {}, title), ...body);
}

export async function renderStats(view, datasetId) {
  let dataset;
  try {
    dataset = await api.getDataset(datasetId);
  } catch (err) {
    clear(view, h("p", { class: "error", role: "alert" }, err.message));
    return null;
  }
  const pairs = hasPairs(dataset);
  const [stats, ops] = await Promise.all([
    api.datasetStats(datasetId).catch((err) => err),
    api.listOperations(datasetId).catch(() => ({ operations: [] })),
  ]);
  const head = datasetHeader(dataset, "stats", { pairs });
  if (stats instanceof Error) {
    clear(view, head, h("p", { class: "error", role: "alert" }, stats.message));
    return null;
  }
  const captions = stats.captions || {};
  const coverage = Number.isFinite(captions.coverage) ? captions.coverage : 0;
  const kinds = Object.entries(stats.kinds || {}).filter(([, n]) => n > 0);
  // The findings decode every image (seconds per thousand): asked for after the rest shows.
  const findings = h("div", { id: "findings" }, h("p", { class: "muted" }, "Checking the files…"));
  api.datasetStats(datasetId, { lint: "true" }).then(
    (full) => findings.replaceChildren(lintList(datasetId, flattenLint(full.lint))),
    (err) => findings.replaceChildren(h("p", { class: "error" }, err.message)));
  clear(view, head, h("div", { class: "stats", id: "stats" },
    section("Counts",
      h("dl", { class: "info", id: "stat-counts" },
        h("dt", {}, "Items"), h("dd", {}, (stats.entries ?? 0).toLocaleString()),
        h("dt", {}, "Files"), h("dd", {}, (stats.files ?? 0).toLocaleString()),
        kinds.map(([kind, n]) => [h("dt", {}, kind), h("dd", {}, n.toLocaleString())]))),
    section("Captions",
      h("meter", { id: "caption-coverage", min: 0, max: 1, value: coverage, "aria-label": "Caption coverage" }),
      h("p", { id: "caption-summary" }, `${Math.round(coverage * 100)}% captioned: ${(captions.with ?? 0).toLocaleString()} with, ${(captions.without ?? 0).toLocaleString()} without`,
        captions.without ? [" (", h("a", { href: `#/d/${encodeURIComponent(datasetId)}?missing=caption` }, "show them"), ")"] : null,
        Number.isFinite(captions.chars?.mean) ? `; ${Math.round(captions.chars.mean)} characters on average.` : "."),
    ),
    section("Resolutions", bars("resolutions", (stats.resolutions || []).map((r) => [`${r.width}×${r.height}`, r.count]))),
    section("Aspect ratios", bars("aspect-ratios", (stats.aspect_ratios || []).map((r) => [r.ratio, r.count]))),
    section("Top tags", terms("top-tags", datasetId, (stats.top_tags || []).map((t) => [t.tag, t.count]))),
    section("Top words", terms("top-words", datasetId, (stats.top_words || []).map((w) => [w.word, w.count]))),
    section("Findings", findings),
    section("Bulk operations", operations(datasetId, ops.operations || [], () => renderStats(view, datasetId)))));
  return null;
}
