// Datasets page: the list (type, file count), register by path, rename, unregister.

import * as api from "./api.js";
import { clear, formatTime, h } from "./dom.js";

// The file count: the dataset's own field when the server sends one, else the listing's total.
async function fileCount(dataset) {
  for (const key of ["file_count", "files_count", "count", "total"]) {
    if (Number.isFinite(dataset[key])) return dataset[key];
  }
  const listing = await api.listFiles(dataset.id, { limit: 1 });
  return Number.isFinite(listing.total) ? listing.total : (listing.files || []).length;
}

function registerForm(onRegistered) {
  const error = h("p", { class: "error", id: "register-error", role: "alert", hidden: true });
  const name = h("input", { name: "name", id: "register-name", placeholder: "My portraits", autocomplete: "off" });
  const path = h("input", { name: "path", id: "register-path", placeholder: "/absolute/path/to/dataset", required: true, autocomplete: "off", spellcheck: "false" });
  const submit = h("button", { type: "submit", class: "primary" }, "Register");
  const form = h(
    "form",
    { class: "card register", id: "register-form" },
    h("h2", {}, "Register a dataset"),
    h("div", { class: "row" },
      h("label", { class: "grow" }, "Path", path),
      h("label", {}, h("span", {}, "Name ", h("span", { class: "optional" }, "(optional)")), name),
      submit),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const dataset = await api.registerDataset(name.value.trim(), path.value.trim());
      form.reset();
      onRegistered(dataset);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      path.setAttribute("aria-invalid", "true");
      path.focus();
    } finally {
      submit.disabled = false;
    }
  });
  path.addEventListener("input", () => path.removeAttribute("aria-invalid"));
  return form;
}

function datasetRow(dataset, reload) {
  const count = h("td", { class: "num", "data-col": "files" }, "…");
  fileCount(dataset).then(
    (n) => { count.textContent = n.toLocaleString(); },
    (err) => { count.textContent = "—"; count.title = err.message; },
  );
  const nameCell = h("div", { class: "name-cell" }, h("a", { href: `#/d/${encodeURIComponent(dataset.id)}` }, dataset.name));
  const rowError = h("span", { class: "error inline", role: "alert" });

  const rename = () => {
    const input = h("input", { value: dataset.name, "aria-label": "New name", class: "rename-input" });
    const save = async () => {
      const value = input.value.trim();
      if (!value || value === dataset.name) return reload();
      try {
        await api.renameDataset(dataset.id, value);
        reload();
      } catch (err) {
        rowError.textContent = err.message;
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save();
      if (event.key === "Escape") reload();
    });
    clear(nameCell, input, h("button", { type: "button", onclick: save }, "Save"), rowError);
    input.focus();
    input.select();
  };

  const unregister = async () => {
    if (!confirm(`Unregister “${dataset.name}”? Its files stay on disk.`)) return;
    try {
      await api.unregisterDataset(dataset.id);
      reload();
    } catch (err) {
      rowError.textContent = err.message;
    }
  };

  return h("tr", { dataset: { id: dataset.id } },
    h("td", { "data-col": "name" }, nameCell),
    h("td", {}, h("span", { class: `badge type-${dataset.type}` }, dataset.type)),
    count,
    h("td", { class: "path", title: dataset.path }, dataset.path),
    h("td", { class: "muted" }, formatTime(dataset.created_at)),
    h("td", {}, h("div", { class: "actions" },
      h("a", { class: "button", href: `#/d/${encodeURIComponent(dataset.id)}` }, "Open"),
      h("button", { type: "button", onclick: rename }, "Rename"),
      h("button", { type: "button", class: "danger", onclick: unregister }, "Unregister"),
      rowError)),
  );
}

export async function renderDatasets(view) {
  const body = h("tbody", { id: "datasets-body" });
  const empty = h("p", { class: "empty", hidden: true }, "No datasets yet. Register a folder above.");
  const listError = h("p", { class: "error", role: "alert", hidden: true });

  const reload = async () => {
    try {
      const { datasets } = await api.listDatasets();
      clear(body, datasets.map((d) => datasetRow(d, reload)));
      empty.hidden = datasets.length > 0;
      listError.hidden = true;
    } catch (err) {
      listError.textContent = err.message;
      listError.hidden = false;
    }
  };

  clear(view,
    h("h1", {}, "Datasets"),
    registerForm(reload),
    listError,
    h("table", { class: "datasets" },
      h("thead", {}, h("tr", {},
        h("th", {}, "Name"), h("th", {}, "Type"), h("th", { class: "num" }, "Files"),
        h("th", {}, "Path"), h("th", {}, "Registered"), h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
      body),
    empty,
  );
  await reload();
}
