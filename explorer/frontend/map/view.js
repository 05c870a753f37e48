/**
 * The map component (explorer/ui/map_webgl.py mounts it): the entry Streamlit imports and calls
 * with the server's data each time that data changes.
 *
 * The data is small JSON: URLs of the packed arrays (pack.js), the colourings' keys, the marks
 * (upload, path, pin), the selection as a bitmask, the decoder's description. Everything a person
 * does to look at the map happens here without the server: switching between projections already
 * computed, recolouring, pan, zoom, the cursor's decoded image. What the server must know comes
 * back as component state: the view shown (for the link and the other pages), a selection (a
 * bitmask, see selection.js) and, on a click, the pinned code (a trigger).
 *
 * A view lives as long as the page: Streamlit calls this function again on every change of the
 * data, and after a page switch with a new parent element; the same view (its WebGL canvases, its
 * arrays) is moved there, so nothing is fetched or built twice.
 */
import { loadPack } from "./pack.js";
import { PointGrid } from "./grid.js";
import { ScatterView, stratifiedSample } from "./scatter.js";
import { Overlay } from "./overlay.js";
import { CursorFollower } from "./cursor.js";
import { ImageBlocks } from "./images.js";
import { countCategories, drawKey } from "./colours.js";
import { Selector, maskFromBase64, maskToBase64 } from "./selection.js";

const KEEP_VIEWS = 3; // maps kept alive across page switches (each holds WebGL contexts)
const views = new Map(); // component key -> MapView

// For tests and benchmarks: the views of this page, and how long things took.
globalThis.__lxMap = { views, timings: [] };

export default function mount(component) {
  const { data, parentElement, key } = component;
  let view = views.get(key);
  if (view && view.signature !== data.signature) {
    view.destroy(); // another model or dataset: another map
    views.delete(key);
    view = null;
  }
  if (!view) {
    view = new MapView(data);
    views.set(key, view);
    while (views.size > KEEP_VIEWS) {
      const [oldest, old] = views.entries().next().value;
      views.delete(oldest);
      old.destroy();
    }
  } else {
    views.delete(key);
    views.set(key, view); // the most recently used
  }
  view.attach(parentElement, component);
  view.update(data).catch((error) => view.fail(error));
  return () => {}; // the view outlives this call: Streamlit calls again with new data
}

class MapView {
  constructor(data) {
    this.signature = data.signature;
    this.root = document.createElement("div");
    this.root.className = "lx-map";
    this.root.innerHTML = `
      <div class="lx-main">
        <div class="lx-toolbar">
          <span class="lx-tabs" role="tablist" aria-label="Projection"></span>
          <label class="lx-colour">Colour by <select></select></label>
          <span class="lx-modes" role="group" aria-label="Mouse">
            <button data-mode="pan" title="Drag to pan, wheel to zoom">Pan</button>
            <button data-mode="box" title="Drag a box to select">Box</button>
            <button data-mode="lasso" title="Draw around points to select them">Lasso</button>
          </span>
          <button class="lx-reset" title="Back to the whole map">Reset view</button>
          <button class="lx-clear" title="Select nothing">Clear selection</button>
        </div>
        <div class="lx-box"></div>
        <div class="lx-status"></div>
        <div class="lx-key"></div>
      </div>
      <div class="lx-side">
        <div class="lx-side-title">Under the cursor</div>
        <figure><canvas class="lx-decoded" width="28" height="28"></canvas><figcaption class="lx-decoded-caption">move over the map</figcaption></figure>
        <figure><canvas class="lx-nearest" width="28" height="28"></canvas><figcaption class="lx-nearest-caption">nearest real image</figcaption></figure>
        <p class="lx-note"></p>
        <p class="lx-pin-note">Click the map to pin the code under the cursor for Interpolate, Arithmetic and Sliders.</p>
      </div>`;
    this.box = this.root.querySelector(".lx-box");
    this.box.style.height = `${data.height || 620}px`;
    this.projections = new Map(); // key -> {meta, positions, grid, quick, colourings}
    this.shown = null; // {projection, colour}
    this.mask = null; // Uint8Array bitmask of the selection, null = none
    this.maskText = "";
    this.seq = 0;
    this.drawn = 0; // frames handed over, for tests
    this.createdAt = performance.now();
  }

  attach(parent, component) {
    this.component = component;
    if (this.root.parentNode !== parent) parent.appendChild(this.root);
  }

  async update(data) {
    this.data = data;
    if (!this.base) {
      const base = await loadPack(data.base);
      this.count = base.meta.count;
      try {
        this.build(base);
      } catch (error) {
        // no WebGL here: the server draws the Plotly map instead from its next run on
        this.component.setStateValue("status", { webgl: false, reason: String(error.message || error) });
        throw error;
      }
      this.base = base;
    }
    this.fillControls();
    this.marksFromData();
    // The server's projection and colouring are applied when they are a new request of its own (a
    // map finished computing, a link), not when they echo a view this page reported: an echo can
    // arrive after the person has moved on, and must not take them back.
    const echo = this.sentViews?.has(`${data.projection}|${data.colour}`);
    const keep = this.shown && (this.appliedRequest === data.request || echo)
      && data.projections.some((p) => p.key === this.shown.projection);
    const wanted = keep ? this.shown.projection : data.projection;
    const colour = keep ? this.shown.colour : data.colour;
    this.appliedRequest = data.request;
    const selection = data.selection?.mask || "";
    if (selection !== this.maskText) {
      this.maskText = selection;
      this.mask = selection ? maskFromBase64(selection, this.count) : null;
      this.shownFlags = null;
    }
    await this.show(wanted, colour);
    this.setupDecoder();
  }

  build(base) {
    this.base = base;
    const count = this.count;
    this.scatter = new ScatterView(this.box, count);
    this.overlay = new Overlay(this.box, this.scatter);
    this.selector = new Selector();
    this.overlay.enableSelection((polygon) => this.select(polygon));
    this.scatter.on("view", () => this.overlay.place());
    this.scatter.on("settled", (ms) => globalThis.__lxMap.timings.push({ what: "settle", ms }));
    const q = (s) => this.root.querySelector(s);
    this.cursor = new CursorFollower({
      decodedCanvas: q(".lx-decoded"), nearestCanvas: q(".lx-nearest"), decodedCaption: q(".lx-decoded-caption"),
      nearestCaption: q(".lx-nearest-caption"), note: q(".lx-note"),
    }, (x, y) => this.overlay.setNearest([x, y]));
    this.box.addEventListener("pointermove", (event) => {
      if (!this.scatter.centre || event.buttons) return;
      const rect = this.box.getBoundingClientRect();
      const [x, y] = this.scatter.fromScreen(event.clientX - rect.left, event.clientY - rect.top);
      this.cursor.move(x, y, event.timeStamp);
    });
    let down = null;
    this.box.addEventListener("pointerdown", (event) => { down = [event.clientX, event.clientY]; });
    this.box.addEventListener("click", (event) => {
      if (this.overlay.mode !== "pan" || !down || Math.hypot(event.clientX - down[0], event.clientY - down[1]) > 3) return;
      this.pin(event);
    });
    for (const button of this.root.querySelectorAll(".lx-modes button")) {
      button.addEventListener("click", () => this.setMode(button.dataset.mode));
    }
    this.setMode("pan");
    q(".lx-reset").addEventListener("click", () => this.scatter.resetView());
    q(".lx-clear").addEventListener("click", () => this.applySelection(null, true));
    q(".lx-colour select").addEventListener("change", (event) => this.show(this.shown.projection, event.target.value, true));
    this.labelOf = null;
    const label = this.data.colourings.find((c) => c.name === "label");
    if (label) {
      const values = this.base.arrays[label.array];
      this.labelOf = (i) => label.names[values[i]];
    }
    const codes = this.base.arrays.codes;
    this.codes = codes ? { codes, dtype: this.base.dtypes.codes, dim: this.base.shapes.codes[1] } : null;
    this.images = this.data.images ? new ImageBlocks(this.data.images) : null;
    // nothing to show for what the server did not send: no decoder, no images
    q(".lx-nearest").closest("figure").hidden = !this.images;
    if (!this.data.decoder) {
      q(".lx-decoded").hidden = true;
      q(".lx-decoded-caption").textContent = "No decoder in this page: click the map to pin a code instead.";
    }
  }

  setMode(mode) {
    this.overlay.setMode(mode);
    for (const button of this.root.querySelectorAll(".lx-modes button")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    }
    this.root.dataset.mode = mode;
  }

  fillControls() {
    const tabs = this.root.querySelector(".lx-tabs");
    tabs.replaceChildren(...this.data.projections.map((p) => {
      const button = document.createElement("button");
      button.textContent = p.label;
      button.dataset.projection = p.key;
      button.setAttribute("role", "tab");
      button.setAttribute("aria-selected", String(p.key === this.shown?.projection));
      button.addEventListener("click", () => this.show(p.key, this.shown.colour, true));
      return button;
    }));
    const select = this.root.querySelector(".lx-colour select");
    select.replaceChildren(...this.data.colourings.map((c) => new Option(c.title, c.name)));
    if (this.shown) select.value = this.shown.colour; // rebuilt: keep what is shown
  }

  /** The projection's arrays, fetched once per URL (the URL names their content). */
  async projection(key) {
    const spec = this.data.projections.find((p) => p.key === key);
    let entry = this.projections.get(spec.url);
    if (!entry) {
      entry = loadPack(spec.url).then((pack) => {
        const positions = pack.arrays.positions;
        const grid = new PointGrid(positions);
        return { meta: pack.meta, pack, positions, grid, quick: this.scatter.lod ? stratifiedSample(positions) : null };
      });
      entry.catch(() => this.projections.delete(spec.url));
      this.projections.set(spec.url, entry);
    }
    const found = await entry;
    // colourings measured on this projection (the neighbourhood kept) come in a pack of their own
    const colours = spec.colours ? (await loadPack(spec.colours)).arrays : {};
    return { ...found, colours, url: spec.url };
  }

  /**
   * Draw projection `key` coloured by `colour`: everything the page has already, nothing from the
   * server. `byUser`: tell the server (for the link and the other pages).
   */
  async show(key, colour, byUser = false) {
    const started = performance.now();
    if (!this.data.projections.some((p) => p.key === key)) key = this.data.projections[0].key;
    const colouring = this.data.colourings.find((c) => c.name === colour) || this.data.colourings[0];
    const entry = await this.projection(key);
    this.dataAt ??= performance.now(); // the first projection's arrays are here
    const values = colouring.per_projection
      ? entry.colours[colouring.array] || this.unmeasured()
      : this.base.arrays[colouring.array];
    if (!this.shownFlags) this.shownFlags = this.flags();
    const changed = this.shownUrl !== entry.url;
    const same = !changed && this.shown?.colour === colouring.name && this.drawnFlags === this.shownFlags
      && this.drawnValues === values;
    if (same) return;
    this.drawnFlags = this.shownFlags;
    this.drawnValues = values;
    this.shownUrl = entry.url;
    this.shown = { projection: key, colour: colouring.name };
    this.root.dataset.projection = key;
    this.root.dataset.colour = colouring.name;
    for (const tab of this.root.querySelectorAll(".lx-tabs button")) {
      tab.setAttribute("aria-selected", String(tab.dataset.projection === key));
    }
    this.root.querySelector(".lx-colour select").value = colouring.name;
    drawKey(this.root.querySelector(".lx-key"), colouring,
      colouring.kind === "category" ? countCategories(values, colouring.names.length) : null);
    if (changed) {
      this.selector.setPoints(entry.positions);
      this.cursor.setContext({ projection: entry.meta, grid: entry.grid, codes: this.codes, images: this.images,
        labelOf: this.labelOf, positions: entry.positions });
    }
    await this.scatter.show({ key: entry.url, positions: entry.positions, colour: values, palette: colouring.palette,
      shown: this.shownFlags, quick: entry.quick });
    this.overlay.setMarks(this.marksFor(key));
    this.status();
    const drawn = await this.scatter.whenDrawn();
    this.drawn++;
    this.root.dataset.drawn = String(this.drawn);
    globalThis.__lxMap.timings.push({ what: changed ? "projection" : "colour", ms: drawn - started });
    if (this.drawn === 1) {
      globalThis.__lxMap.timings.push({ what: "first", ms: drawn - this.dataAt, since_mount: drawn - this.createdAt });
    }
    if (byUser) {
      this.sentViews ??= new Set();
      this.sentViews.add(`${key}|${colouring.name}`);
      this.component.setStateValue("view", { projection: key, colour: colouring.name });
    }
  }

  /** A colouring not measured on this projection yet: every point in the grey "not measured" step. */
  unmeasured() {
    this.missing ??= new Uint8Array(this.count);
    return this.missing;
  }

  /** 1 for points shown at full opacity: all of them, or those selected. */
  flags() {
    const flags = new Uint8Array(this.count);
    if (!this.mask) return flags.fill(1);
    for (let i = 0; i < this.count; i++) flags[i] = (this.mask[i >> 3] >> (i & 7)) & 1;
    return flags;
  }

  async select(polygon) {
    const started = performance.now();
    const { mask, count, ms } = await this.selector.select(polygon);
    globalThis.__lxMap.timings.push({ what: "select", ms: performance.now() - started, worker_ms: ms, count });
    this.lastPolygon = polygon;
    this.applySelection(mask, true);
  }

  async applySelection(mask, byUser) {
    this.mask = mask;
    this.maskText = mask ? maskToBase64(mask) : "";
    this.seq++;
    if (byUser) {
      // the sequence names this page load too: a new page's first selection is never taken for an old one
      this.component.setStateValue("selection", { mask: this.maskText, count: this.selectedCount(),
        seq: `${performance.timeOrigin}:${this.seq}`, projection: this.shown.projection });
      // let the selection leave for the server before the dimmed redraw takes the main thread
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    this.shownFlags = this.flags();
    return this.show(this.shown.projection, this.shown.colour);
  }

  selectedCount() {
    if (!this.mask) return 0;
    let total = 0;
    for (let i = 0; i < this.count; i++) total += (this.mask[i >> 3] >> (i & 7)) & 1;
    return total;
  }

  status() {
    const selected = this.selectedCount();
    this.root.querySelector(".lx-status").textContent = `${this.count.toLocaleString()} points`
      + (selected ? ` · ${selected.toLocaleString()} selected` : "")
      + (this.scatter.lod ? ` · while the view moves, ${this.projectionsQuick()} of them are drawn; all once it stops` : "");
    this.root.dataset.selected = String(selected);
  }

  projectionsQuick() {
    return this.scatter.quick ? "a stratified sample" : "all";
  }

  marksFromData() {
    this.marks = this.data.marks || {};
  }

  marksFor(key) {
    const { upload, path, pinned } = this.marks;
    return {
      upload: upload && upload.xy[key] ? { name: upload.name, xy: upload.xy[key] } : null,
      path: path && path.xy[key] ? { xy: path.xy[key], stops: path.stops } : null,
      pinned: pinned && pinned.projection === key ? pinned.xy : null,
    };
  }

  pin(event) {
    const current = this.cursor.current;
    const rect = this.box.getBoundingClientRect();
    const [x, y] = this.scatter.fromScreen(event.clientX - rect.left, event.clientY - rect.top);
    const found = current && Math.hypot(current.x - x, current.y - y) < 1e-9 ? current : this.cursor.lookup(x, y);
    this.marks = { ...this.marks, pinned: { projection: this.shown.projection, xy: [x, y] } };
    this.overlay.setMarks(this.marksFor(this.shown.projection));
    this.component.setTriggerValue("pin", {
      projection: this.shown.projection, xy: [x, y], nearest: found.nearest,
      code: found.code ? Array.from(found.code) : null, away: found.away,
    });
  }

  setupDecoder() {
    const spec = this.data.decoder;
    if (!spec || this.decoderHash === spec.hash) return;
    this.decoderHash = spec.hash;
    // The decoder modules by explorer.live's URL, not this component's: one module instance, one
    // onnxruntime-web and one session per decoder for the whole page, shared with the model card's.
    const live = (name) => new URL(`../../explorer.live/${name}`, import.meta.url).href;
    import(live("decoder.js")).then(async ({ openDecoder }) => {
      const [{ Picture }, decoder] = await Promise.all([import(live("picture.js")), openDecoder(spec)]);
      if (this.decoderHash !== spec.hash) return;
      this.cursor.setDecoder(decoder, new Picture(this.root.querySelector(".lx-decoded"), spec.shape));
      this.root.dataset.decoder = "ready";
    }).catch((error) => {
      this.root.dataset.decoder = "failed";
      this.root.querySelector(".lx-decoded-caption").textContent =
        `The decoder cannot run in this page (${error.message || error}); click to decode on the server.`;
    });
  }

  fail(error) {
    console.error("latent-explorer map:", error);
    this.root.dataset.failed = String(error.message || error);
    this.root.querySelector(".lx-status").textContent = `The map could not be drawn here: ${error.message || error}`;
  }

  destroy() {
    this.scatter?.destroy();
    this.selector?.terminate();
    this.root.remove();
  }
}
