/**
 * What is drawn over the points, in SVG, placed through the scatter's camera on every view
 * change: the uploaded image's star, the interpolation path with its numbered waypoints, the
 * pinned code, the real point nearest the cursor; and the box or lasso being drawn, which is
 * also where a selection's polygon comes from (in data units, for select-worker.js).
 */
const SVG = "http://www.w3.org/2000/svg";
const MIN_STEP_PX = 2; // a lasso grows by a corner when the mouse moved this far

export class Overlay {
  /**
   * @param {HTMLElement} box the map's positioned box
   * @param {import("./scatter.js").ScatterView} scatter
   */
  constructor(box, scatter) {
    this.scatter = scatter;
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "lx-overlay");
    box.appendChild(this.svg);
    this.marks = { upload: null, path: null, pinned: null, nearest: null };
    this.layers = {};
    for (const name of ["path", "upload", "pinned", "nearest", "drag"]) {
      this.layers[name] = this.svg.appendChild(document.createElementNS(SVG, "g"));
    }
    this.mode = "pan";
    this.drag = null;
  }

  /** @param {{upload?: {name, xy}, path?: {xy: number[][], stops: number[]}, pinned?: number[]}} marks */
  setMarks(marks) {
    this.marks = { ...this.marks, ...marks };
    this.place();
  }

  setNearest(xy) {
    this.marks.nearest = xy;
    this.placeNearest();
  }

  /** Everything placed again for the current view. */
  place() {
    const at = (xy) => this.scatter.toScreen(xy[0], xy[1]);
    const { upload, path, pinned } = this.marks;
    this.layers.path.replaceChildren();
    if (path && path.xy.length) {
      const line = element("polyline", { class: "lx-path", points: path.xy.map((p) => at(p).join(",")).join(" ") });
      this.layers.path.appendChild(line);
      path.stops.forEach((index, k) => {
        const [x, y] = at(path.xy[index]);
        this.layers.path.appendChild(element("circle", { class: "lx-stop", cx: x, cy: y, r: 7 }));
        const label = element("text", { class: "lx-stop-label", x, y: y - 11 });
        label.textContent = String(k + 1);
        this.layers.path.appendChild(label);
      });
    }
    this.layers.upload.replaceChildren();
    if (upload && upload.xy) {
      const [x, y] = at(upload.xy);
      const star = element("path", { class: "lx-star", d: starPath(x, y, 11, 4.6) });
      const title = document.createElementNS(SVG, "title");
      title.textContent = upload.name;
      star.appendChild(title);
      this.layers.upload.appendChild(star);
    }
    this.layers.pinned.replaceChildren();
    if (pinned) {
      const [x, y] = at(pinned);
      this.layers.pinned.appendChild(element("path", { class: "lx-pin", d: `M${x - 7},${y - 7}L${x + 7},${y + 7}M${x - 7},${y + 7}L${x + 7},${y - 7}` }));
    }
    this.placeNearest();
  }

  placeNearest() {
    this.layers.nearest.replaceChildren();
    if (this.marks.nearest) {
      const [x, y] = this.scatter.toScreen(...this.marks.nearest);
      this.layers.nearest.appendChild(element("circle", { class: "lx-nearest", cx: x, cy: y, r: 6 }));
    }
  }

  /** "pan", "box" or "lasso": in the last two the overlay takes the mouse and the view stays put. */
  setMode(mode) {
    this.mode = mode;
    this.svg.style.pointerEvents = mode === "pan" ? "none" : "auto";
    this.svg.style.cursor = mode === "pan" ? "" : "crosshair";
    this.scatter.setFixed(mode !== "pan");
  }

  /**
   * Box and lasso: mouse down, drag, up. `onPolygon` gets the outline in data units.
   * @param {(polygon: number[]) => void} onPolygon
   */
  enableSelection(onPolygon) {
    const point = (event) => {
      const rect = this.svg.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    this.svg.addEventListener("pointerdown", (event) => {
      if (this.mode === "pan" || event.button !== 0) return;
      this.svg.setPointerCapture(event.pointerId);
      this.drag = { start: point(event), corners: [point(event)] };
      this.drawDrag();
    });
    this.svg.addEventListener("pointermove", (event) => {
      if (!this.drag) return;
      const p = point(event);
      if (this.mode === "box") {
        this.drag.corners = [this.drag.start, p];
      } else {
        const last = this.drag.corners[this.drag.corners.length - 1];
        if (Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP_PX) return;
        this.drag.corners.push(p);
      }
      this.drawDrag();
    });
    const finish = (event) => {
      if (!this.drag) return;
      const corners = this.outline();
      this.drag = null;
      this.layers.drag.replaceChildren();
      if (event.type === "pointerup" && corners.length >= 3) {
        onPolygon(corners.flatMap(([x, y]) => this.scatter.fromScreen(x, y)));
      }
    };
    this.svg.addEventListener("pointerup", finish);
    this.svg.addEventListener("pointercancel", finish);
  }

  /** The drag's outline in pixels: the box's four corners, or the lasso's path. */
  outline() {
    const { corners } = this.drag;
    if (this.mode !== "box") return corners;
    const [[x0, y0], [x1, y1]] = corners.length > 1 ? corners : [corners[0], corners[0]];
    if (x0 === x1 || y0 === y1) return [];
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }

  drawDrag() {
    this.layers.drag.replaceChildren(element("polygon", {
      class: "lx-drag", points: this.outline().map((p) => p.join(",")).join(" "),
    }));
  }
}

function element(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function starPath(x, y, outer, inner) {
  const corners = [];
  for (let k = 0; k < 10; k++) {
    const r = k % 2 ? inner : outer;
    const angle = -Math.PI / 2 + (k * Math.PI) / 5;
    corners.push(`${(x + r * Math.cos(angle)).toFixed(1)},${(y + r * Math.sin(angle)).toFixed(1)}`);
  }
  return `M${corners.join("L")}Z`;
}
