/**
 * The points, drawn by regl-scatterplot (WebGL; software WebGL on a machine without a GPU).
 *
 * What the library is used for: drawing, pan and zoom, colour and opacity by a per-point category.
 * What it is not used for (done in our own modules instead): hover and nearest points (grid.js),
 * lasso and box (overlay.js draws them, select-worker.js tests every point), selection display
 * (opacity by a per-point flag, not the library's selection, whose outlines cost three extra
 * passes per selected point).
 *
 * Level of detail: software WebGL costs about 31 ms a frame plus 0.28 µs a point, so above
 * LOD_POINTS a second instance holding a stratified subsample (every occupied grid cell keeps
 * at least one point, dense cells are thinned) sits on top and takes the mouse; while the view
 * moves only it is drawn, and once the view has been still for SETTLE_MS the full instance is
 * given the same camera and draws every point once.
 *
 * Gotchas of regl-scatterplot 1.16 met here: draw() turns typed arrays into one JS array per point
 * (so the points are handed over as those arrays, made once and rewritten in place) and rejects a
 * call while another is running (draws are queued); its spatial index (KDBush, built in a worker
 * by default, which at a million points did not finish in one run, or on the main thread in about
 * a second) serves only its own hover and lasso, which this map does not use, so it is handed an
 * empty one; its draw() promise and "draw" event do not mean the pixels are there with
 * SwiftShader: whenDrawn() reads a pixel back.
 */
import { PointGrid } from "./grid.js";
import { createDirectRenderer } from "./renderer.js";
import { createScatterplot } from "./vendor/regl-scatterplot.js";

export const LOD_POINTS = 250_000; // above this, a subsample is drawn while the view moves
export const QUICK_POINTS = 80_000; // the subsample's size
const SETTLE_MS = 120; // the view is still when it has not changed for this long
const DIM = 0.12; // opacity of points outside a selection
const SHOWN = 0.85; // opacity of the others
const FIT = 0.95; // the points fill this share of the canvas's shorter side

export class ScatterView {
  /**
   * @param {HTMLElement} box a positioned element the canvases fill
   * @param {number} count points, which decides whether the subsample is used
   */
  constructor(box, count) {
    this.box = box;
    this.count = count;
    this.lod = count > LOD_POINTS;
    this.full = this.instance(count > LOD_POINTS ? 1.5 : count > 20_000 ? 2.5 : 4);
    this.quick = this.lod ? this.instance(1.5) : null;
    this.active = this.quick || this.full; // the one that takes the mouse
    this.active.canvas.style.pointerEvents = "auto";
    this.moving = false;
    this.settleTimer = 0;
    this.listeners = { view: new Set(), settled: new Set() };
    this.queue = { full: Promise.resolve(), quick: Promise.resolve() };
    this.active.plot.subscribe("view", () => this.onView());
    if (this.quick) this.quick.canvas.style.opacity = "0";
  }

  instance(pointSize) {
    const canvas = document.createElement("canvas");
    canvas.style.cssText = "position:absolute;inset:0;width:100%;height:100%;pointer-events:none;";
    this.box.appendChild(canvas);
    const { width, height } = this.box.getBoundingClientRect();
    const renderer = createDirectRenderer(canvas);
    const plot = createScatterplot({
      canvas, renderer, width: Math.max(1, width), height: Math.max(1, height),
      pointSize, pointSizeSelected: 0, pointOutlineWidth: 0, opacity: [DIM, SHOWN], opacityBy: "valueW",
      colorBy: "valueZ", pointColorHover: [0, 0, 0, 1], backgroundColor: [1, 1, 1, 0],
      spatialIndexUseWorker: false, actionKeyMap: {}, deselectOnDblClick: false, deselectOnEscape: false,
      lassoColor: [0, 0, 0, 0], pointScaleMode: "asinh",
    });
    return { canvas, plot, renderer };
  }

  get aspect() {
    const { width, height } = this.box.getBoundingClientRect();
    return width / Math.max(1, height);
  }

  /**
   * Show one projection's points with one colouring and selection flags.
   * @param {object} layer {key, positions (N, 2) data units, colour: Uint8Array|Uint16Array
   *   category per point, palette: css colours, shown: Uint8Array 1 = full opacity, quick: Uint32Array|null}
   * @returns {Promise<void>} once both instances were handed their points
   */
  show(layer) {
    const newProjection = this.layerKey !== layer.key;
    if (newProjection) this.fit(layer.positions);
    this.layerKey = layer.key;
    const palette = layer.palette.length ? layer.palette : ["#1f77b4"];
    const jobs = [this.draw("full", layer, null, palette, newProjection)];
    if (this.quick) jobs.push(this.draw("quick", layer, layer.quick, palette, newProjection));
    return Promise.all(jobs).then(() => {});
  }

  /** The affine map from data units to the library's coordinates: centred, same scale on both axes. */
  fit(positions) {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < positions.length; i += 2) {
      const x = positions[i], y = positions[i + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    const aspect = this.aspect;
    this.centre = [(minX + maxX) / 2, (minY + maxY) / 2];
    this.scale = Math.min((2 * FIT * aspect) / Math.max(maxX - minX, 1e-12), (2 * FIT) / Math.max(maxY - minY, 1e-12));
  }

  draw(which, layer, subset, palette, newProjection) {
    const { plot } = this[which];
    const run = async () => {
      const rows = this.fill(which, layer, subset);
      plot.set({ pointColor: palette });
      await plot.draw(rows, { zDataType: "categorical", wDataType: "categorical", spatialIndex: emptyIndex() });
      if (newProjection) plot.reset({ preventEvent: true });
    };
    // the library refuses a draw while one runs: chain them
    const next = this.queue[which].then(run, run);
    this.queue[which] = next.catch(() => {});
    return next;
  }

  /**
   * The library's points, one [x, y, z, w] array per point: made once per instance and
   * rewritten in place for every draw, because given typed columns the library would build a
   * million new arrays each time (a second and ~100 MB of garbage per recolouring at 1M).
   */
  fill(which, layer, subset) {
    const n = subset ? subset.length : layer.positions.length / 2;
    let rows = this.rows?.[which];
    if (!rows || rows.length !== n) {
      rows = Array.from({ length: n }, () => [0, 0, 0, 0]);
      this.rows = { ...this.rows, [which]: rows };
    }
    const [cx, cy] = this.centre;
    const s = this.scale;
    const { positions, colour, shown } = layer;
    for (let j = 0; j < n; j++) {
      const i = subset ? subset[j] : j;
      const row = rows[j];
      row[0] = (positions[2 * i] - cx) * s;
      row[1] = (positions[2 * i + 1] - cy) * s;
      row[2] = colour[i];
      row[3] = shown[i];
    }
    return rows;
  }

  // --- the camera, for overlays and the cursor ---------------------------------------------------
  /** @returns {[number, number]} pixels in the box for a position in data units */
  toScreen(x, y) {
    const v = this.active.plot.get("cameraView");
    const { width, height } = this.box.getBoundingClientRect();
    const nx = (x - this.centre[0]) * this.scale, ny = (y - this.centre[1]) * this.scale;
    const vx = v[0] * nx + v[4] * ny + v[12], vy = v[1] * nx + v[5] * ny + v[13];
    return [((vx / this.aspect + 1) / 2) * width, ((1 - vy) / 2) * height];
  }

  /** @returns {[number, number]} the position in data units under pixel (px, py) of the box */
  fromScreen(px, py) {
    const v = this.active.plot.get("cameraView");
    const { width, height } = this.box.getBoundingClientRect();
    const vx = ((px / width) * 2 - 1) * this.aspect, vy = 1 - (py / height) * 2;
    const a = v[0], b = v[4], c = v[1], d = v[5];
    const det = a * d - b * c;
    const rx = vx - v[12], ry = vy - v[13];
    const nx = (d * rx - b * ry) / det, ny = (-c * rx + a * ry) / det;
    return [nx / this.scale + this.centre[0], ny / this.scale + this.centre[1]];
  }

  /** Pan and zoom on, or the view fixed (while a box or lasso is drawn). */
  setFixed(fixed) {
    this.active.plot.set({ cameraIsFixed: fixed });
  }

  resetView() {
    this.active.plot.reset();
    if (this.quick) this.full.plot.reset({ preventEvent: true });
  }

  on(event, listener) {
    this.listeners[event].add(listener);
  }

  onView() {
    this.lastViewAt = performance.now();
    for (const listener of this.listeners.view) listener();
    if (!this.quick) return;
    if (!this.moving) {
      this.moving = true;
      this.quick.canvas.style.opacity = "1";
      this.full.canvas.style.visibility = "hidden";
    }
    this.settleToken = (this.settleToken || 0) + 1; // a full draw still pending is now stale
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.settle(), SETTLE_MS);
  }

  /** The view stopped: every point, drawn once by the full instance with the quick one's camera. */
  settle() {
    const view = this.quick.plot.get("cameraView");
    const token = this.settleToken;
    this.full.plot.subscribe("draw", () => {
      if (this.moving && token === this.settleToken) {
        readPixel(this.full.renderer);
        this.full.canvas.style.visibility = "visible";
        this.quick.canvas.style.opacity = "0";
        this.moving = false;
        // from the last change of the view to every point drawn
        for (const listener of this.listeners.settled) listener(performance.now() - this.lastViewAt);
      }
    }, 1);
    this.full.plot.set({ cameraView: view });
    this.full.plot.redraw();
  }

  /**
   * A promise for the moment the canvas shown holds the last frame's pixels: the library's next
   * "draw" event, then one pixel read back from the canvas it copies into (with SwiftShader, the
   * frame is only finished once something waits for its pixels).
   */
  whenDrawn(which = "shown") {
    const target = which === "shown" ? (this.moving && this.quick ? this.quick : this.full) : this[which];
    return new Promise((resolve) => {
      target.plot.subscribe("draw", () => {
        readPixel(target.renderer);
        resolve(performance.now());
      }, 1);
      target.plot.redraw();
    });
  }

  destroy() {
    clearTimeout(this.settleTimer);
    for (const { plot, canvas, renderer } of [this.full, this.quick].filter(Boolean)) {
      plot.destroy();
      renderer.destroy();
      canvas.remove();
    }
  }
}

/**
 * A stratified subsample: every occupied cell of the point grid keeps its first point, and the
 * rest of the budget is spread over the cells in proportion to how many points they hold, so
 * outliers stay visible and dense clusters keep their shape.
 * @param {Float32Array} positions (N, 2)
 * @returns {Uint32Array} indices, ascending
 */
export function stratifiedSample(positions, budget = QUICK_POINTS) {
  const n = positions.length / 2;
  if (n <= budget) return Uint32Array.from({ length: n }, (_, i) => i);
  // cells coarse enough that one point per occupied cell takes at most a third of the budget
  const grid = new PointGrid(positions, Math.max(4, (3 * n) / budget));
  const cells = grid.starts.length - 1;
  const picked = new Uint8Array(n);
  let taken = 0;
  for (let c = 0; c < cells && taken < budget; c++) {
    if (grid.starts[c + 1] > grid.starts[c]) {
      picked[grid.members[grid.starts[c]]] = 1;
      taken++;
    }
  }
  const rate = (budget - taken) / Math.max(1, n - taken);
  let carry = 0;
  for (let c = 0; c < cells; c++) {
    for (let m = grid.starts[c] + 1; m < grid.starts[c + 1]; m++) {
      carry += rate;
      if (carry >= 1) {
        carry -= 1;
        picked[grid.members[m]] = 1;
      }
    }
  }
  const out = [];
  for (let i = 0; i < n; i++) if (picked[i]) out.push(i);
  return Uint32Array.from(out);
}

/** One pixel read back: the frame is finished (software WebGL draws lazily until something waits). */
export function readPixel(renderer) {
  const gl = renderer.regl._gl;
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
}

/**
 * A KDBush index (the library's format, version 1, Float64 coordinates) of no points: the
 * library's hover and lasso find nothing in it, and nothing else of the library reads it.
 */
export function emptyIndex() {
  const data = new ArrayBuffer(8);
  const bytes = new Uint8Array(data);
  bytes[0] = 0xdb; // KDBush's magic
  bytes[1] = (1 << 4) | 8; // version 1, Float64Array
  new Uint16Array(data, 2, 1)[0] = 16; // node size
  new Uint32Array(data, 4, 1)[0] = 0; // no items
  return data;
}
