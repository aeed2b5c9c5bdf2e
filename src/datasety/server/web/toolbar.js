// The controls shared by the gallery and the pair view: the dataset header with its tabs, and
// the filter + pager bar whose state lives in the URL hash (so reload and Back keep it).

import { debounce, h, replaceParams } from "./dom.js";

// The Pairs tab shows only where the dataset has pairs (`pairs`: hasPairs(), a boolean or the
// promise of one: the page does not wait for it, the tab appears when it is known).
export function datasetHeader(dataset, active, { pairs = true } = {}) {
  const id = encodeURIComponent(dataset.id);
  const tab = (name, href, label) => h("a", { href, class: "tab", "aria-current": active === name ? "page" : null }, label);
  return h("div", { class: "dataset-head" },
    h("div", {},
      h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Datasets"), " / "),
      h("h1", {}, dataset.name, " ", h("span", { class: `badge type-${dataset.type}` }, dataset.type)),
      h("p", { class: "path muted", title: dataset.path }, dataset.path)),
    h("nav", { class: "tabs", "aria-label": "Dataset views" },
      tab("gallery", `#/d/${id}`, dataset.type === "audio" ? "Files" : "Gallery"),
      pairsTab(pairs, active, tab("pairs", `#/d/${id}/pairs`, "Pairs")),
      tab("stats", `#/d/${id}/stats`, "Stats"),
      tab("jobs", `#/jobs?dataset=${id}`, "Run a job")),
  );
}

function pairsTab(pairs, active, link) {
  if (active === "pairs") return link;
  const slot = h("span", { class: "tab-slot" });
  Promise.resolve(pairs).then((yes) => {
    if (yes) slot.replaceWith(link);
    // Known now (tests and scripts can wait for it): "yes" or "no".
    (link.closest(".tabs") || slot.closest(".tabs"))?.setAttribute("data-pairs", yes ? "yes" : "no");
  });
  return slot;
}

const PAGE_SIZES = [24, 50, 100, 200, 500];

/**
 * A filter + sort + pager bar. `state` is {q, missing, sort, order, folder, offset, limit}, read
 * from and written to `params`;
 * `onChange()` reloads the page.
 */
export const SORTS = [
  ["", "Folder order"], ["name", "Name"], ["size", "File size"], ["width", "Width"], ["height", "Height"],
  ["aspect", "Aspect ratio"], ["mtime", "Modified"], ["caption_length", "Caption length"],
];

export function filterBar(params, state, onChange, { missingFilter = true } = {}) {
  const save = () => {
    const saved = { q: state.q, missing: state.missing ? "caption" : "", sort: state.sort, order: state.sort ? state.order : "", folder: state.folder, offset: state.offset || "", limit: state.limit };
    for (const [key, value] of Object.entries(saved)) {
      if (value === "" || value === undefined) params.delete(key);
      else params.set(key, String(value));
    }
    replaceParams(params);
    onChange();
  };

  const search = h("input", { type: "search", id: "filter-text", placeholder: "Filter by name or caption", "aria-label": "Filter by name or caption", value: state.q });
  search.addEventListener("input", debounce(() => {
    state.q = search.value.trim();
    state.offset = 0;
    save();
  }, 250));

  const missing = h("input", { type: "checkbox", id: "filter-missing", checked: state.missing });
  missing.addEventListener("change", () => {
    state.missing = missing.checked;
    state.offset = 0;
    save();
  });

  const size = h("select", { id: "page-size", "aria-label": "Items per page" },
    PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === state.limit }, `${n} per page`)));
  size.addEventListener("change", () => {
    state.limit = Number(size.value);
    state.offset = 0;
    save();
  });

  const sort = h("select", { id: "sort-by", "aria-label": "Sort by" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === state.sort }, label)));
  const order = h("button", { type: "button", id: "sort-order", "aria-label": "Sort direction" });
  const showOrder = () => {
    order.textContent = state.order === "desc" ? "↓ desc" : "↑ asc";
    order.hidden = !state.sort;
  };
  showOrder();
  sort.addEventListener("change", () => {
    state.sort = sort.value;
    state.offset = 0;
    showOrder();
    save();
  });
  order.addEventListener("click", () => {
    state.order = state.order === "desc" ? "asc" : "desc";
    state.offset = 0;
    showOrder();
    save();
  });

  const range = h("span", { class: "range muted", id: "page-range", role: "status" });
  const prev = h("button", { type: "button", id: "page-prev", "aria-label": "Previous page" }, "‹ Prev");
  const next = h("button", { type: "button", id: "page-next", "aria-label": "Next page" }, "Next ›");
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); save(); });
  next.addEventListener("click", () => { state.offset += state.limit; save(); });

  const bar = h("div", { class: "toolbar" },
    search,
    missingFilter ? h("label", { class: "check" }, missing, "Missing caption") : null,
    sort, order,
    h("span", { class: "spacer" }),
    range, prev, next, size);

  return {
    root: bar,
    // After a page loads: show "101–200 of 10,000" and enable the buttons that make sense.
    update(total, shown) {
      const first = total ? state.offset + 1 : 0;
      range.textContent = `${first.toLocaleString()}–${(state.offset + shown).toLocaleString()} of ${total.toLocaleString()}`;
      prev.disabled = state.offset <= 0;
      next.disabled = state.offset + shown >= total;
    },
    // Show only what is under `folder` (the folder tree).
    setFolder(folder) {
      state.folder = folder;
      state.offset = 0;
      save();
    },
    // Move one page (keyboard navigation past the first or last item).
    step(direction) {
      const target = state.offset + direction * state.limit;
      if (target < 0 || (direction > 0 && next.disabled)) return false;
      state.offset = target;
      save();
      return true;
    },
  };
}

export function stateFrom(params, defaultLimit) {
  const limit = Number(params.get("limit")) || defaultLimit;
  return {
    q: params.get("q") || "",
    missing: params.get("missing") === "caption",
    sort: SORTS.some(([value]) => value && value === params.get("sort")) ? params.get("sort") : "",
    order: params.get("order") === "desc" ? "desc" : "asc",
    folder: params.get("folder") || "",
    offset: Math.max(0, Number(params.get("offset")) || 0),
    limit,
  };
}
