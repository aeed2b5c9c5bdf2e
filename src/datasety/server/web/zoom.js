// Zoom and pan for the detail view's image: the wheel and a two-finger pinch zoom at the
// pointer, a drag pans, and + / - / 0 zoom and Shift+arrows pan from the keyboard. The image keeps its fitted size;
// a CSS transform (scale, then translate) does the rest, so no pixel is re-fetched.

const MIN = 1;
const MAX = 16;
const STEP = 60; // pixels per Shift+arrow
const PAN = { ArrowLeft: [STEP, 0], ArrowRight: [-STEP, 0], ArrowUp: [0, STEP], ArrowDown: [0, -STEP] };

export function zoomable(frame, img) {
  let scale = 1;
  let x = 0;
  let y = 0;
  const pointers = new Map();
  let pinch = null;

  const render = () => {
    img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    frame.dataset.zoom = scale.toFixed(2);
    frame.classList.toggle("zoomed", scale > 1);
  };

  // Zoom to `next`, keeping the point (cx, cy) of the frame where it is on screen.
  const zoomAt = (next, cx, cy) => {
    next = Math.min(MAX, Math.max(MIN, next));
    const box = frame.getBoundingClientRect();
    const px = (cx ?? box.left + box.width / 2) - box.left - box.width / 2;
    const py = (cy ?? box.top + box.height / 2) - box.top - box.height / 2;
    x = px - ((px - x) * next) / scale;
    y = py - ((py - y) * next) / scale;
    scale = next;
    if (scale === 1) x = y = 0;
    render();
  };

  frame.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAt(scale * Math.exp(-event.deltaY * 0.002), event.clientX, event.clientY);
  }, { passive: false });

  frame.addEventListener("pointerdown", (event) => {
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    frame.setPointerCapture(event.pointerId);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { distance: Math.hypot(a.x - b.x, a.y - b.y), scale };
    }
  });
  frame.addEventListener("pointermove", (event) => {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2 && pinch) {
      const [a, b] = [...pointers.values()];
      zoomAt(pinch.scale * (Math.hypot(a.x - b.x, a.y - b.y) / pinch.distance), (a.x + b.x) / 2, (a.y + b.y) / 2);
    } else if (pointers.size === 1 && scale > 1) {
      x += event.clientX - last.x;
      y += event.clientY - last.y;
      render();
    }
  });
  const release = (event) => {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
  };
  frame.addEventListener("pointerup", release);
  frame.addEventListener("pointercancel", release);

  render();
  return {
    // Keyboard: true when the key was a zoom key.
    key(event) {
      if (event.key === "+" || event.key === "=") zoomAt(scale * 1.5);
      else if (event.key === "-" || event.key === "_") zoomAt(scale / 1.5);
      else if (event.key === "0") zoomAt(1);
      else if (event.shiftKey && scale > 1 && PAN[event.key]) {
        // Shift+arrows pan a zoomed image (plain arrows step to the previous / next item).
        x += PAN[event.key][0];
        y += PAN[event.key][1];
        render();
      } else return false;
      return true;
    },
    get scale() { return scale; },
  };
}
