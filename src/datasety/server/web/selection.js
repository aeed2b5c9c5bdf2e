// Which gallery items are selected: single paths (click, shift-click for a range on the page),
// kept while paging, or "everything matching the filter" (which the server resolves, so a
// selection of 5,000 items is one small request, not 5,000 paths).

import { h } from "./dom.js";

export class Selection {
  constructor(onChange) {
    this.paths = new Set();
    this.matching = null; // {filter, total} when everything matching the filter is selected
    this.anchor = null; // the path a shift-click range starts from
    this.onChange = onChange;
  }

  get count() {
    return this.matching ? this.matching.total : this.paths.size;
  }

  has(path) {
    return Boolean(this.matching) || this.paths.has(path);
  }

  // A click on one item's box; with shift, everything between the last click and this one.
  toggle(path, { range = false, order = [] } = {}) {
    if (this.matching) this.dropMatching(order);
    if (range && this.anchor && order.includes(this.anchor)) {
      const [a, b] = [order.indexOf(this.anchor), order.indexOf(path)].sort((x, y) => x - y);
      const on = !this.paths.has(path) || this.paths.has(this.anchor);
      for (const p of order.slice(a, b + 1)) on ? this.paths.add(p) : this.paths.delete(p);
    } else if (this.paths.has(path)) this.paths.delete(path);
    else this.paths.add(path);
    this.anchor = path;
    this.onChange();
  }

  // Leaving "all matching": the page's items stay selected, as they look.
  dropMatching(order) {
    this.matching = null;
    this.paths = new Set(order);
  }

  selectMatching(filter, total) {
    this.matching = { filter, total };
    this.paths.clear();
    this.onChange();
  }

  clear() {
    this.paths.clear();
    this.matching = null;
    this.anchor = null;
    this.onChange();
  }

  // The bulk endpoint's `select`.
  toSelect() {
    return this.matching ? { filter: this.matching.filter } : { paths: [...this.paths] };
  }
}

// The checkbox on a card.
export function selectBox(path, selection, orderOf) {
  const box = h("input", { type: "checkbox", class: "select-box", "aria-label": `Select ${path}`, checked: selection.has(path) });
  box.addEventListener("click", (event) => {
    event.stopPropagation();
    selection.toggle(path, { range: event.shiftKey, order: orderOf() });
  });
  return box;
}
