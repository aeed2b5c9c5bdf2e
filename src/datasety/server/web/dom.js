// Tiny DOM helpers: build elements without innerHTML, so file names and captions are never HTML.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "style") element.style.cssText = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "value") element.value = value; // textarea has no value attribute
    else if (value === true) element.setAttribute(key, "");
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatTime(epochSeconds, { short = false } = {}) {
  if (!epochSeconds) return "";
  const date = new Date(epochSeconds * 1000);
  // Short form: the time alone for today, the date alone before.
  if (short) return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleDateString();
  return date.toLocaleString();
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A short-lived message in the top bar for actions that have no better place to report.
export function notify(message, kind = "info") {
  const note = document.getElementById("server-note");
  note.textContent = message;
  note.dataset.kind = kind;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { note.textContent = ""; }, 6000);
}

// Set a hash param without adding a history entry per keystroke.
export function replaceParams(params) {
  const [path] = location.hash.split("?");
  const text = params.toString();
  history.replaceState(null, "", `${path}${text ? `?${text}` : ""}`);
}
