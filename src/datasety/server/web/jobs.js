// Jobs page: the Run form, the job list (status, progress bar, time left) and the selected job's
// live log (server-sent events) with Cancel.

import * as api from "./api.js";
import { clear, formatDuration, formatTime, h, replaceParams } from "./dom.js";
import { argsFromArgv, commandLine, failedItems, inputOf, outcomeOf, outputOf } from "./jobfacts.js";
import { runForm } from "./runform.js";

const ACTIVE = new Set(["queued", "pending", "started", "running", "cancelling"]);
const isActive = (job) => ACTIVE.has(job.status);

// {done, total} from the job's progress, whatever shape the server gives it.
export function progressOf(job) {
  const p = job.progress;
  if (p === null || p === undefined) return null;
  if (typeof p === "number") return { done: p, total: 1 };
  const done = p.done ?? p.current ?? p.completed ?? p.n;
  const total = p.total ?? p.count;
  return Number.isFinite(done) && Number.isFinite(total) && total > 0 ? { done, total } : null;
}

// Seconds left, from the rate so far; null until there is a rate to go by.
export function timeLeft(job, now = Date.now() / 1000) {
  const progress = progressOf(job);
  if (!progress || !job.started_at || progress.done <= 0 || !isActive(job)) return null;
  const elapsed = now - job.started_at;
  return (elapsed / progress.done) * (progress.total - progress.done);
}

function statusBadge(job) {
  const { status, label } = outcomeOf(job);
  return h("span", { class: `status status-${status}`, dataset: { status } }, label);
}

const baseName = (path) => path.replace(/\/+$/, "").split("/").pop() || path;

function progressCell(job) {
  const progress = progressOf(job);
  const bar = h("progress", { max: progress ? progress.total : 1, "aria-label": `Progress of ${job.command}` });
  if (progress) bar.value = progress.done;
  else if (!isActive(job)) bar.value = job.status === "done" ? 1 : 0;
  // An active job without numbers keeps the indeterminate bar (no value attribute).
  const parts = [];
  if (progress && progress.total !== 1) parts.push(`${progress.done.toLocaleString()} / ${progress.total.toLocaleString()}`);
  else if (!progress && Number.isFinite(job.progress?.done)) parts.push(`${job.progress.done.toLocaleString()} done`);
  const left = timeLeft(job);
  if (left !== null) parts.push(`${formatDuration(left)} left`);
  if (job.status === "queued" && Number.isFinite(job.queue_position)) parts.push(`#${job.queue_position} in queue`);
  if (job.status === "queued" && job.queue_reason) parts.push(job.queue_reason);
  return h("div", { class: "progress" }, bar, h("span", { class: "muted time-left" }, parts.join(" · ")));
}

function jobRow(job, selected, onSelect) {
  const row = h("li", { class: "job", tabindex: "0", dataset: { id: job.id, status: job.status }, "aria-current": selected ? "true" : null },
    h("div", { class: "job-line" }, h("strong", {}, job.command), statusBadge(job), h("span", { class: "muted", title: formatTime(job.started_at || job.created_at) }, formatTime(job.started_at || job.created_at, { short: true }))),
    // Two resize jobs look alike: their input folder tells them apart.
    inputOf(job) ? h("div", { class: "job-input muted", title: inputOf(job) }, baseName(inputOf(job))) : null,
    progressCell(job));
  row.addEventListener("click", () => onSelect(job.id));
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onSelect(job.id); } });
  return row;
}

// The selected job: its facts, Cancel, and a log that follows the server's stream.
function jobPanel(jobId, onChanged, { onRerun, onResume }) {
  const head = h("div", { class: "job-head" });
  const failures = h("div", { class: "failed-items", id: "job-failed" });
  const log = h("pre", { class: "log", id: "job-log", tabindex: "0", "aria-label": "Job log", "aria-live": "off" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const root = h("section", { class: "card job-panel", id: "job-panel", dataset: { id: jobId } }, head, error, failures, log);
  const controller = new AbortController();
  let streaming = false;
  let endSeen = false; // the ended job's full output was read once (its failed files)
  let lines = 0;

  const appendLine = (text) => {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    log.append(`${text}\n`);
    lines += 1;
    if (atBottom) log.scrollTop = log.scrollHeight;
  };

  const follow = async () => {
    // The stream replays the log from its first line: it replaces the tail shown so far.
    streaming = true;
    log.textContent = "";
    lines = 0;
    try {
      await api.streamEvents(`/v1/jobs/${encodeURIComponent(jobId)}/logs?follow=true`, ({ event, data }) => {
        if (event === "message") appendLine(data);
        else if (event === "end") onChanged(); // the job ended: show its final status now
      }, controller.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      streaming = false; // no stream: fall back to the output lines the job status carries
    }
  };

  // The files a job failed, each with its reason, above the log (from the job's full output).
  const showFailures = (job) => {
    const items = failedItems(job);
    if (!items.length) return failures.replaceChildren();
    failures.replaceChildren(
      h("h3", {}, `Failed files (${items.length})`),
      h("ul", {}, items.map(({ item, reason }) => h("li", {}, h("code", {}, item), reason ? h("span", { class: "muted" }, ` ${reason}`) : null))));
  };

  // An output folder is one click from being browsed: register it (a folder registered
  // already answers its dataset) and open it.
  const openOutput = async (job, button) => {
    button.disabled = true;
    try {
      const dataset = await api.registerDataset("", outputOf(job));
      location.hash = `#/d/${encodeURIComponent(dataset.id)}`;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      button.disabled = false;
    }
  };

  // Undo what the job wrote: its captions back as they were, the files it created removed
  // (the server refuses with 409 when a file changed since).
  const reverted = h("span", { class: "muted", id: "job-reverted", role: "status" });
  const revert = async (button) => {
    if (!confirm("Revert this job? Captions it changed go back; files it created are removed.")) return;
    button.disabled = true;
    error.hidden = true;
    try {
      const answer = await api.revertJob(jobId);
      reverted.textContent = `Reverted: ${answer.restored} restored, ${answer.removed} removed.`;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      button.disabled = false;
    }
  };

  const cancel = async (button) => {
    button.disabled = true;
    try {
      await api.cancelJob(jobId);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
    onChanged();
  };

  return {
    root,
    follow,
    update(job) {
      const facts = [
        ["Status", statusBadge(job)],
        ["Command", h("code", { class: "argv" }, commandLine(job))],
        ["Input", inputOf(job)],
        ["Output", outputOf(job)],
        ["Started", formatTime(job.started_at)],
        ["Ended", formatTime(job.ended_at)],
        ["Exit code", job.exit_code ?? ""],
        ["Error", job.error || ""],
        ["Resume from", job.resume ? `${job.resume.value} (step ${job.resume.step})` : ""],
      ].filter(([, v]) => v !== "");
      clear(head,
        h("div", { class: "job-title" }, h("h2", {}, job.command), progressCell(job),
          isActive(job) ? h("button", { type: "button", class: "danger", id: "job-cancel", onclick: (e) => cancel(e.currentTarget) }, "Cancel") : null),
        h("div", { class: "actions job-actions" },
          h("button", { type: "button", id: "job-rerun", onclick: () => onRerun(job) }, "Re-run…"),
          // A stopped run its command can continue (train: its last complete checkpoint).
          !isActive(job) && job.resume ? h("button", { type: "button", class: "primary", id: "job-resume", title: `Continue from ${job.resume.value}`, onclick: () => onResume(job) }, "Resume…") : null,
          !isActive(job) && outputOf(job) ? h("button", { type: "button", id: "job-open-output", onclick: (e) => openOutput(job, e.currentTarget) }, "Open output as dataset") : null,
          !isActive(job) ? h("button", { type: "button", class: "danger", id: "job-revert", onclick: (e) => revert(e.currentTarget) }, "Revert…") : null,
          reverted),
        h("dl", { class: "info" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
      const ended = !isActive(job);
      if (!streaming || (ended && !endSeen)) {
        endSeen = ended;
        // The job list carries only each job's last lines: ask for this job's own output.
        api.getJob(jobId).then((full) => {
          showFailures(full);
          if (streaming || !Array.isArray(full.output)) return;
          for (const text of full.output.slice(lines)) appendLine(text);
        }, (err) => {
          error.textContent = err.message;
          error.hidden = false;
        });
      }
    },
    dispose() { controller.abort(); },
  };
}

export async function renderJobs(view, params) {
  const datasetId = params.get("dataset");
  let prefill = "";
  let dataset = null;
  if (datasetId) {
    try {
      dataset = await api.getDataset(datasetId);
      prefill = dataset.path;
    } catch {
      prefill = ""; // a stale link: the form still works, just without the prefill
    }
  }
  const list = h("ol", { class: "jobs", id: "jobs-list", "aria-label": "Jobs" });
  const empty = h("p", { class: "empty" }, "No jobs yet.");
  const panelSlot = h("div", { class: "panel-slot" });
  const listError = h("p", { class: "error", role: "alert", hidden: true });
  let selected = params.get("job");
  let panel = null;
  let timer = null;
  let disposed = false;

  const select = (id) => {
    if (panel && panel.root.dataset.id === id) return;
    if (panel) panel.dispose();
    selected = id;
    params.set("job", id);
    replaceParams(params);
    panel = jobPanel(id, refresh, { onRerun: rerun, onResume: resume });
    panelSlot.replaceChildren(panel.root);
    refresh().then(() => panel && panel.follow());
  };

  async function refresh() {
    clearTimeout(timer);
    let jobs = [];
    try {
      jobs = (await api.listJobs()).jobs || [];
      listError.hidden = true;
    } catch (err) {
      listError.textContent = err.message;
      listError.hidden = false;
    }
    if (disposed) return;
    clear(list, jobs.map((job) => jobRow(job, job.id === selected, select)));
    empty.hidden = jobs.length > 0;
    const current = jobs.find((job) => job.id === selected);
    if (panel && current) panel.update(current);
    // Poll fast while something moves, slowly otherwise (a job may come from another client).
    timer = setTimeout(refresh, jobs.some(isActive) ? 1000 : 5000);
  }

  let form = h("p", { class: "muted" }, "Loading commands…");
  let commands = {};
  const rerun = (job) => {
    if (!form.fill || !commands[job.command]) return;
    form.fill(job.command, argsFromArgv(job, commands[job.command].params || []));
    form.scrollIntoView({ block: "start" });
  };
  // Resume: the same arguments with the job's resume parameter set (train: --resume <checkpoint>).
  const resume = (job) => {
    if (!form.fill || !commands[job.command] || !job.resume) return;
    const args = argsFromArgv(job, commands[job.command].params || []);
    form.fill(job.command, { ...args, [job.resume.param]: job.resume.value });
    form.scrollIntoView({ block: "start" });
  };
  try {
    ({ commands } = await api.listCommands());
    form = runForm(commands, prefill, async (command, args) => {
      const job = await api.startJob(command, args);
      select(job.id);
    });
  } catch (err) {
    form = h("p", { class: "error", role: "alert" }, err.message);
  }

  clear(view,
    h("h1", {}, "Jobs", dataset ? h("span", { class: "muted" }, ` · ${dataset.name}`) : null),
    h("div", { class: "jobs-layout" },
      form,
      h("section", { class: "job-list card" }, h("h2", {}, "Jobs"), listError, list, empty),
      panelSlot));
  if (selected) select(selected);
  else await refresh();
  return () => {
    disposed = true;
    clearTimeout(timer);
    if (panel) panel.dispose();
  };
}
