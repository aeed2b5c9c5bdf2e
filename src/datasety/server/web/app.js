// Entry point: a hash router over a few views. Each view renders into <main> and returns a
// cleanup function (timers, streams, observers) that runs when the user navigates away.
//
//   #/                      datasets
//   #/d/<id>?q=&missing=    a dataset: gallery (images) or rows (audio)
//   #/d/<id>/pairs          the dataset's pairs (?group=true)
//   #/d/<id>/stats          the dataset's stats, findings and bulk operations
//   #/jobs?dataset=<id>     run form and job list

import { releaseMedia } from "./api.js";
import { renderDatasets } from "./datasets.js";
import { renderDataset } from "./gallery.js";
import { renderJobs } from "./jobs.js";
import { renderPairs } from "./pairs.js";
import { initShortcuts } from "./shortcuts.js";
import { renderStats } from "./stats.js";
import { initTheme } from "./theme.js";

initTheme();
initShortcuts();

const view = document.getElementById("view");
let cleanup = null;

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search) };
}

function route() {
  const { parts, params } = parseHash();
  if (parts[0] === "d" && parts[1] && parts[2] === "pairs") return ["datasets", () => renderPairs(view, parts[1], params)];
  if (parts[0] === "d" && parts[1] && parts[2] === "stats") return ["datasets", () => renderStats(view, parts[1])];
  if (parts[0] === "d" && parts[1]) return ["datasets", () => renderDataset(view, parts[1], params)];
  if (parts[0] === "jobs") return ["jobs", () => renderJobs(view, params)];
  return ["datasets", () => renderDatasets(view)];
}

async function navigate() {
  if (cleanup) cleanup();
  cleanup = null;
  releaseMedia(view);
  const [section, render] = route();
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.toggleAttribute("aria-current", link.dataset.nav === section);
  }
  view.replaceChildren();
  view.removeAttribute("data-ready");
  try {
    cleanup = (await render()) || null;
  } finally {
    // Tests and screen readers can tell a finished render from a half-built one.
    view.dataset.ready = "true";
  }
}

window.addEventListener("hashchange", navigate);
navigate();
