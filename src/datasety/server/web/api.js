// The one place that talks to the server: the public /v1 API and nothing else.
// Every call goes through request(), which adds the tab's token and asks for one on a 401.

const TOKEN_KEY = "datasety.token";

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body; // the whole JSON answer: some errors name a field or carry details
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

// One token prompt at a time: concurrent 401s all wait for the same answer.
let pendingToken = null;

function askToken(message) {
  if (pendingToken) return pendingToken;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const error = document.getElementById("token-error");
  error.hidden = !message;
  error.textContent = message || "";
  input.value = "";
  pendingToken = new Promise((resolve) => {
    let given = "";
    const onSubmit = () => { given = input.value.trim(); };
    form.addEventListener("submit", onSubmit);
    // Submitting (method="dialog") and Escape both close the dialog; only a submit gives a token.
    dialog.addEventListener("close", () => {
      form.removeEventListener("submit", onSubmit);
      if (given) sessionStorage.setItem(TOKEN_KEY, given);
      pendingToken = null;
      resolve(Boolean(given));
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return pendingToken;
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  let body = null;
  try {
    body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON (a proxy page, an empty body): the status line is the best we have.
  }
  return new ApiError(response.status, message, body);
}

// fetch() with the token; on 401 ask for a token (once per failure) and try again.
export async function send(url, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(url, { ...options, headers: authHeaders(options.headers) });
    if (response.status !== 401 || attempt > 2) return response;
    const hint = token() ? "That token was refused." : "";
    if (!(await askToken(hint))) return response;
  }
}

export async function request(method, url, body) {
  const options = { method };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  const response = await send(url, options);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

export const get = (url) => request("GET", url);

// -- URLs ---------------------------------------------------------------------------------------

const enc = (path) => path.split("/").map(encodeURIComponent).join("/");

export function fileUrl(datasetId, path, params = {}) {
  const query = new URLSearchParams(params).toString();
  return `/v1/datasets/${encodeURIComponent(datasetId)}/files/${enc(path)}${query ? `?${query}` : ""}`;
}

export function query(params) {
  const clean = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  const text = new URLSearchParams(clean).toString();
  return text ? `?${text}` : "";
}

// -- datasets -----------------------------------------------------------------------------------

export const listDatasets = () => get("/v1/datasets");
export const getDataset = (id) => get(`/v1/datasets/${encodeURIComponent(id)}`);
export const registerDataset = (name, path) => request("POST", "/v1/datasets", name ? { name, path } : { path });
export const renameDataset = (id, name) => request("PATCH", `/v1/datasets/${encodeURIComponent(id)}`, { name });
export const unregisterDataset = (id) => request("DELETE", `/v1/datasets/${encodeURIComponent(id)}`);
export const listFiles = (id, params = {}) => get(`/v1/datasets/${encodeURIComponent(id)}/files${query(params)}`);
export const fileInfo = (id, path) => get(fileUrl(id, path, { info: "true" }));
export const updateFile = (id, path, body) => request("PUT", fileUrl(id, path), body);
export const createFile = (id, path, body) => request("POST", fileUrl(id, path), body);

// Bulk curation, history and stats (docs/api-additions.md).
const datasetPath = (id, rest) => `/v1/datasets/${encodeURIComponent(id)}/${rest}`;
export const bulk = (id, body) => request("POST", datasetPath(id, "bulk"), body);
export const undoOperation = (id, opId) => request("POST", datasetPath(id, `operations/${encodeURIComponent(opId)}/undo`));
export const listOperations = (id) => get(datasetPath(id, "operations"));
export const captionHistory = (id, path) => get(datasetPath(id, `history${query({ path })}`));
export const restoreVersion = (id, versionId) => request("POST", datasetPath(id, `history/${encodeURIComponent(versionId)}/restore`));
export const datasetStats = (id, params = {}) => get(datasetPath(id, `stats${query(params)}`));
export const datasetFolders = (id) => get(datasetPath(id, "folders"));
export const revertJob = (id) => request("POST", `/v1/jobs/${encodeURIComponent(id)}/revert`);

export async function fileExists(id, path) {
  const response = await send(fileUrl(id, path, { info: "true" }));
  return response.ok;
}

export async function fileText(id, path) {
  const response = await send(fileUrl(id, path));
  if (!response.ok) throw await errorFrom(response);
  return response.text();
}

// Raw-bytes upload with progress events (fetch() has no upload progress).
export function uploadBytes(id, path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    // check=true: the server decodes an image before storing it and refuses one that does not.
    xhr.open("POST", fileUrl(id, path, { check: "true" }));
    // A JSON body means base64 data or sidecar fields to the server: a .json file goes up as bytes.
    const type = file.type && !file.type.includes("json") ? file.type : "application/octet-stream";
    xhr.setRequestHeader("Content-Type", type);
    const t = token();
    if (t) xhr.setRequestHeader("Authorization", `Bearer ${t}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else if (xhr.status === 401) askToken(token() ? "That token was refused." : "").then((ok) => (ok ? uploadBytes(id, path, file, onProgress).then(resolve, reject) : reject(new ApiError(401, "Unauthorized"))));
      else reject(new ApiError(xhr.status, (body && body.error) || `${xhr.status} ${xhr.statusText}`));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "Network error")));
    xhr.send(file);
  });
}

// -- media --------------------------------------------------------------------------------------
// <img> and <audio> cannot send an Authorization header. Without a token they load the URL
// directly (the browser caches it); with one, the bytes are fetched with the header and shown
// through an object URL that is released when the element leaves the page.

const objectUrls = new WeakMap();

export async function showMedia(element, url) {
  if (!token()) {
    element.src = url;
    return;
  }
  const response = await send(url);
  if (!response.ok) throw await errorFrom(response);
  const blobUrl = URL.createObjectURL(await response.blob());
  const previous = objectUrls.get(element);
  if (previous) URL.revokeObjectURL(previous);
  objectUrls.set(element, blobUrl);
  element.src = blobUrl;
}

export function releaseMedia(root) {
  for (const element of root.querySelectorAll("img, audio")) {
    const blobUrl = objectUrls.get(element);
    if (blobUrl) URL.revokeObjectURL(blobUrl);
  }
}

// -- jobs and commands --------------------------------------------------------------------------

export const listCommands = () => get("/v1/commands");
export const listJobs = () => get("/v1/jobs");
export const getJob = (id) => get(`/v1/jobs/${encodeURIComponent(id)}`);
export const startJob = (command, args) => request("POST", "/v1/jobs", { command, args });
export const cancelJob = (id) => request("DELETE", `/v1/jobs/${encodeURIComponent(id)}`);

// Server-sent events over fetch(), so the token travels in a header (EventSource cannot send
// one). Calls onEvent({event, data}) per event; resolves when the stream ends; abort with signal.
export async function streamEvents(url, onEvent, signal) {
  const response = await send(url, { signal, headers: { Accept: "text/event-stream" } });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      if (newline === buffer.length - 1 && buffer[newline] === "\r") break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent({ event, data: data.join("\n") });
        event = "message";
        data = [];
      } else if (line.startsWith(":")) {
        continue; // a comment: the server's keep-alive
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") data.push(text);
        else if (field === "event") event = text;
      }
    }
  }
}
