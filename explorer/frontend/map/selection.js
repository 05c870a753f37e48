/**
 * Selections in the page: the lasso's or the box's polygon goes to a worker that tests every
 * point (select-worker.js); the answer, a bitmask, is what the page dims points by and what it
 * sends to Python (base64, N/8 bytes: 125 KB for a million points, where a JSON list of indices
 * would take megabytes). explorer/map_arrays.py reads it back into indices.
 */
export class Selector {
  constructor() {
    this.worker = new Worker(new URL("./select-worker.js", import.meta.url), { type: "module" });
    this.pending = new Map(); // request id -> resolve
    this.next = 1;
    this.worker.onmessage = (event) => {
      const resolve = this.pending.get(event.data.id);
      this.pending.delete(event.data.id);
      if (resolve) resolve(event.data);
    };
  }

  /** The points of the projection shown (a copy goes to the worker). */
  setPoints(positions) {
    this.worker.postMessage({ type: "points", positions: positions.slice() });
  }

  /**
   * @param {number[]} polygon flat [x0, y0, ...] in data units
   * @returns {Promise<{mask: Uint8Array, count: number, ms: number}>}
   */
  select(polygon) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ type: "polygon", id, polygon: Float64Array.from(polygon) });
    });
  }

  terminate() {
    this.worker.terminate();
  }
}

/** @param {Uint8Array} mask @returns {string} */
export function maskToBase64(mask) {
  let text = "";
  const chunk = 0x8000;
  for (let i = 0; i < mask.length; i += chunk) text += String.fromCharCode.apply(null, mask.subarray(i, i + chunk));
  return btoa(text);
}

/** @param {string} text @param {number} count points @returns {Uint8Array} */
export function maskFromBase64(text, count) {
  const mask = new Uint8Array(Math.ceil(count / 8));
  if (!text) return mask;
  const raw = atob(text);
  for (let i = 0; i < Math.min(raw.length, mask.length); i++) mask[i] = raw.charCodeAt(i);
  return mask;
}

export function isSelected(mask, i) {
  return (mask[i >> 3] >> (i & 7)) & 1;
}
