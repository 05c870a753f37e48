/**
 * Which points lie inside a lasso or a box, over all points (a million included), off the main
 * thread. The polygon's edges are sorted into horizontal bands once, so each point tests only the
 * few edges of its band (even-odd rule: a point is inside when a ray to its right crosses the
 * outline an odd number of times). The answer is a bitmask, bit i of byte i >> 3 for point i.
 */
const BANDS = 1024;

let positions = null; // Float32Array (N, 2), the projection shown

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "points") {
    positions = message.positions;
    return;
  }
  if (message.type === "polygon") {
    const started = performance.now();
    const mask = inside(positions, message.polygon);
    let count = 0;
    for (let b = 0; b < mask.length; b++) count += BIT_COUNT[mask[b]];
    self.postMessage({ id: message.id, mask, count, ms: performance.now() - started }, [mask.buffer]);
  }
};

const BIT_COUNT = new Uint8Array(256);
for (let b = 0; b < 256; b++) BIT_COUNT[b] = (b & 1) + BIT_COUNT[b >> 1];

/**
 * @param {Float32Array} points (N, 2) interleaved
 * @param {Float64Array|number[]} polygon [x0, y0, x1, y1, ...], closed implicitly
 * @returns {Uint8Array} the bitmask
 */
export function inside(points, polygon) {
  const n = points.length / 2;
  const mask = new Uint8Array(Math.ceil(n / 8));
  const corners = polygon.length / 2;
  if (corners < 3) return mask;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let c = 0; c < corners; c++) {
    const x = polygon[2 * c], y = polygon[2 * c + 1];
    minX = Math.min(minX, x); maxX = Math.max(maxX, x);
    minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  const bandH = (maxY - minY) / BANDS || 1;
  const lists = Array.from({ length: BANDS }, () => []);
  for (let c = 0; c < corners; c++) {
    const x1 = polygon[2 * c], y1 = polygon[2 * c + 1];
    const next = (c + 1) % corners;
    const x2 = polygon[2 * next], y2 = polygon[2 * next + 1];
    if (y1 === y2) continue; // a horizontal edge is never crossed by a horizontal ray
    const first = Math.max(0, Math.floor((Math.min(y1, y2) - minY) / bandH));
    const last = Math.min(BANDS - 1, Math.floor((Math.max(y1, y2) - minY) / bandH));
    for (let b = first; b <= last; b++) lists[b].push(x1, y1, x2, y2);
  }
  const bands = lists.map((edges) => Float64Array.from(edges));
  for (let i = 0; i < n; i++) {
    const px = points[2 * i], py = points[2 * i + 1];
    if (px < minX || px > maxX || py < minY || py > maxY) continue;
    const edges = bands[Math.min(BANDS - 1, Math.floor((py - minY) / bandH))];
    let odd = false;
    for (let e = 0; e < edges.length; e += 4) {
      const y1 = edges[e + 1], y2 = edges[e + 3];
      if ((y1 > py) !== (y2 > py)) {
        const x1 = edges[e], x2 = edges[e + 2];
        if (px < x1 + ((py - y1) * (x2 - x1)) / (y2 - y1)) odd = !odd;
      }
    }
    if (odd) mask[i >> 3] |= 1 << (i & 7);
  }
  return mask;
}
