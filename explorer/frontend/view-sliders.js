/**
 * Sliders, in the page: every input event of a slider (each step of a drag with the mouse held
 * down) is decoded by the page's decoder and drawn at once; the server hears the values when a
 * slider is let go (for the link, Reset and the rest of the page), and its answer does not
 * redraw the picture. Play sweeps one dimension back and forth, decoded frame by frame.
 *
 * data: {decoder, rows (Arrow table: dim, low, high, step, decimals, label; most
 * important first), values, start, revision, top}. A new `revision` means the server set the
 * values (a new start code): the page takes them; otherwise it keeps its own.
 */
import { Picture } from "./picture.js";
import { Playback, backAndForth } from "./playback.js";
import { readyDecoder } from "./readiness.js";
import { SliderPanel } from "./slider-panel.js";
import { trace } from "./trace.js";

const PLAY_PERIOD_MS = 3000; // one sweep there and back

export class SlidersView {
  constructor(root, data, host) {
    this.host = host;
    this.sent = 0; // releases sent to the server
    this.seq = 0; // input events decoded
    const element = (tag, className, props = {}) => Object.assign(document.createElement(tag), { className, ...props });
    const layout = element("div", "live sliders-view");
    const left = element("div", "left");
    const right = element("div", "right");
    this.canvas = element("canvas", "picture");
    this.caption = element("div", "caption", { textContent: "Decoded in this page as you drag" });
    const controls = element("div", "controls");
    this.dimension = element("select", "play-dim");
    this.dimension.setAttribute("aria-label", "Dimension to play");
    this.playButton = element("button", "play", { type: "button", textContent: "▶ Play" });
    this.resetButton = element("button", "reset", { type: "button", textContent: "↩ Reset to the sample's code" });
    this.note = element("div", "note");
    controls.append(this.dimension, this.playButton);
    right.append(this.canvas, this.caption, controls, this.resetButton, this.note);
    layout.append(left, right);
    root.append(layout);

    const rows = tableRows(data.rows);
    this.start = data.start;
    this.revision = data.revision;
    this.panel = new SliderPanel(left, rows, {
      top: data.top, values: data.values,
      onInput: (dim, at) => this.redraw(at),
      onRelease: () => this.release(),
    });
    for (const row of rows) this.dimension.append(new Option(row.label, String(row.dim)));
    this.picture = new Picture(this.canvas, data.decoder.shape);
    this.playback = new Playback((phase) => this.playFrame(phase), PLAY_PERIOD_MS);
    this.playButton.addEventListener("click", () => (this.playback.running ? this.stopPlaying() : this.startPlaying()));
    this.resetButton.addEventListener("click", () => {
      this.panel.setValues(this.start);
      this.redraw(performance.now());
      this.release();
    });
    this.note.textContent = "Loading the decoder into this page…";
    this.decoder = readyDecoder(data.decoder, null) /* the model card's view reports */;
    this.decoder.then(() => {
      this.note.textContent = "";
      return this.show(performance.now());
    }, (error) => {
      this.note.textContent = `This page cannot decode (${error.message || error}); the server takes over.`;
    });
  }

  update(data) {
    this.start = data.start;
    if (data.revision !== this.revision) {
      this.revision = data.revision;
      this.stopPlaying(false);
      this.panel.setValues(data.values);
      this.redraw(performance.now());
    }
  }

  /** Decode the current values and draw them; `inputAt`: when the input event happened. */
  show(inputAt) {
    const seq = ++this.seq;
    const code = Float64Array.from(this.panel.values); // as it is now, whatever comes next
    return this.decoder.then((decoder) => decoder.decode(code)).then((pixels) => {
      this.picture.draw(pixels);
      trace("drawn", { view: "sliders", seq, inputAt, drawnAt: performance.now(), code, pixels });
    });
  }

  /** show(), for callers that do not wait: a page that cannot decode has said so in its note. */
  redraw(inputAt) {
    this.show(inputAt).catch(() => {});
  }

  /** The values, to the server: when a slider is let go, on Reset, when playback stops. */
  release() {
    this.sent += 1;
    this.host.setStateValue("values", { z: Array.from(this.panel.values), n: this.sent });
  }

  startPlaying() {
    const dim = Number(this.dimension.value);
    this.playing = { dim, row: this.panel.row(dim) };
    this.playButton.textContent = "■ Stop";
    this.playback.start();
  }

  stopPlaying(report = true) {
    if (!this.playback.running) return;
    this.playback.stop();
    this.playButton.textContent = "▶ Play";
    const fps = this.playback.framesPerSecond();
    this.note.textContent = `Played ${this.playback.frames} frames, ${fps.toFixed(0)} per second.`;
    trace("played", { view: "sliders", frames: this.playback.frames, fps });
    if (report) this.release();
  }

  playFrame(phase) {
    const { dim, row } = this.playing;
    this.panel.setValue(dim, row.low + (row.high - row.low) * backAndForth(phase));
    return this.show(performance.now());
  }

  destroy() {
    this.playback.stop();
  }
}

/** An Arrow table (one row per slider) as plain objects. */
function tableRows(table) {
  const column = (name) => Array.from(table.getChild(name).toArray());
  const [dims, lows, highs, steps, decimals] = ["dim", "low", "high", "step", "decimals"].map(column);
  const labels = column("label");
  return dims.map((dim, k) => ({
    dim: Number(dim), low: lows[k], high: highs[k], step: steps[k], decimals: Number(decimals[k]), label: labels[k],
  }));
}
