// An audio file's duration and waveform, decoded in the browser (Web Audio API) from the
// served file: one min/max bar per pixel column, drawn on a canvas.

import * as api from "./api.js";
import { formatDuration, h } from "./dom.js";

function draw(canvas, buffer) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const samples = buffer.getChannelData(0);
  const per = Math.max(1, Math.floor(samples.length / width));
  context.clearRect(0, 0, width, height);
  context.fillStyle = getComputedStyle(canvas).color;
  for (let column = 0; column < width; column += 1) {
    let low = 1;
    let high = -1;
    const start = column * per;
    for (let i = start; i < Math.min(samples.length, start + per); i += 1) {
      if (samples[i] < low) low = samples[i];
      if (samples[i] > high) high = samples[i];
    }
    if (high < low) continue;
    const top = ((1 - high) / 2) * height;
    context.fillRect(column, top, 1, Math.max(1, ((high - low) / 2) * height));
  }
}

export function waveform(datasetId, path) {
  const canvas = h("canvas", { class: "waveform", width: 800, height: 96, "aria-label": `Waveform of ${path}`, role: "img" });
  const duration = h("dd", { id: "audio-duration" }, "…");
  const root = h("div", { class: "audio-info" }, canvas, h("dl", { class: "info" }, h("dt", {}, "Duration"), duration));
  (async () => {
    const response = await api.send(api.fileUrl(datasetId, path));
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const bytes = await response.arrayBuffer();
    // An OfflineAudioContext decodes without an audio device or a user gesture.
    const decoder = new OfflineAudioContext(1, 1, 44100);
    const buffer = await decoder.decodeAudioData(bytes);
    duration.textContent = `${formatDuration(buffer.duration)} (${buffer.duration.toFixed(2)} s)`;
    root.dataset.seconds = String(buffer.duration);
    draw(canvas, buffer);
  })().catch((err) => { duration.textContent = `Cannot decode: ${err.message}`; });
  return root;
}
