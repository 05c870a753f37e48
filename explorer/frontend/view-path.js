/**
 * Interpolate's path, played in the page: the walk from waypoint to waypoint (linear or slerp,
 * path.js) decoded frame by frame at display rate, back and forth, until stopped. The scrubber
 * shows any step of the grid the server drew below it (the same codes).
 *
 * data: {decoder, waypoints (Arrow table: one float64 column per dimension, one row per
 * waypoint), method, steps (images per leg, as the grid)}.
 */
import { pointOnPath } from "./path.js";
import { Picture } from "./picture.js";
import { Playback, backAndForth } from "./playback.js";
import { readyDecoder } from "./readiness.js";
import { trace } from "./trace.js";

const LEG_MS = 1200; // one leg of the path, at play speed

export class PathView {
  constructor(root, data, host) {
    const element = (tag, className, props = {}) => Object.assign(document.createElement(tag), { className, ...props });
    const layout = element("div", "live path-view");
    this.canvas = element("canvas", "picture");
    const side = element("div", "side");
    this.playButton = element("button", "play", { type: "button", textContent: "▶ Play the path" });
    this.scrubber = element("input", "range scrubber", { type: "range", min: "0", step: "1" });
    this.scrubber.setAttribute("aria-label", "Step of the path");
    this.caption = element("div", "caption");
    this.note = element("div", "note");
    side.append(this.playButton, this.scrubber, this.caption, this.note);
    layout.append(this.canvas, side);
    root.append(layout);
    this.picture = new Picture(this.canvas, data.decoder.shape);
    this.playback = new Playback((phase) => this.playFrame(phase), 1);
    this.playButton.addEventListener("click", () => (this.playback.running ? this.stop() : this.play()));
    this.scrubber.addEventListener("input", (event) => {
      this.stop();
      this.showStep(Number(this.scrubber.value), event.timeStamp).catch(() => {}); // the note says why
    });
    this.note.textContent = "Loading the decoder into this page…";
    this.decoder = readyDecoder(data.decoder, null) /* the model card's view reports */;
    this.decoder.then(() => { this.note.textContent = ""; }, (error) => {
      this.note.textContent = `This page cannot decode (${error.message || error}); the server takes over.`;
    });
    this.update(data);
  }

  update(data) {
    const waypoints = tableRows(data.waypoints);
    const key = JSON.stringify([data.method, data.steps, waypoints.map((w) => Array.from(w))]);
    if (key === this.key) return;
    this.key = key;
    this.stop();
    this.waypoints = waypoints;
    this.method = data.method;
    this.steps = data.steps;
    this.legs = waypoints.length - 1;
    this.scrubber.max = String(this.legs * this.steps);
    this.playback.periodMs = 2 * LEG_MS * this.legs; // there and back
    this.showStep(0, performance.now()).catch(() => {}); // a page that cannot decode says so in its note
  }

  /** Step k of the grid: position k / steps on the path. */
  showStep(k, inputAt) {
    this.scrubber.value = String(k);
    this.caption.textContent = `Step ${k + 1} of ${this.legs * this.steps + 1}`;
    return this.show(k / this.steps, inputAt);
  }

  show(position, inputAt) {
    const code = pointOnPath(this.waypoints, position, this.method);
    return this.decoder.then((decoder) => decoder.decode(code)).then((pixels) => {
      this.picture.draw(pixels);
      trace("drawn", { view: "path", position, inputAt, drawnAt: performance.now(), code, pixels });
    });
  }

  play() {
    this.playButton.textContent = "■ Stop";
    this.playback.start();
  }

  stop() {
    if (!this.playback.running) return;
    this.playback.stop();
    this.playButton.textContent = "▶ Play the path";
    const fps = this.playback.framesPerSecond();
    this.caption.textContent = "Stopped between two steps; the bar shows each step of the grid.";
    this.note.textContent = `Played ${this.playback.frames} frames, ${fps.toFixed(0)} per second.`;
    trace("played", { view: "path", frames: this.playback.frames, fps });
  }

  playFrame(phase) {
    const position = this.legs * backAndForth(phase);
    const nearest = Math.round(position * this.steps);
    this.scrubber.value = String(nearest);
    this.caption.textContent = `Playing: near step ${nearest + 1} of ${this.legs * this.steps + 1}`;
    return this.show(position, performance.now());
  }

  destroy() {
    this.playback.stop();
  }
}

/** An Arrow table with one column per latent dimension (z0, z1, …) -> one Float64Array per row. */
function tableRows(table) {
  const names = table.schema.fields.map((field) => field.name).filter((name) => /^z\d+$/.test(name));
  const columns = names.map((name) => table.getChild(name).toArray());
  return Array.from({ length: table.numRows }, (_, row) => Float64Array.from(columns, (column) => column[row]));
}
