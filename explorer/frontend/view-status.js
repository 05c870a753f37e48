/**
 * The model card's part: loads the active model's decoder into the page as soon as any page
 * opens (so Sliders and Interpolate find it ready) and reports to the server whether this
 * browser can decode it. Shows a line only while loading; the card says which way decoding went.
 */
import { readyDecoder } from "./readiness.js";

export class StatusView {
  constructor(root, data, host) {
    this.line = Object.assign(document.createElement("div"), { className: "status-line" });
    root.append(this.line);
    this.host = host;
    this.update(data);
  }

  update(data) {
    if (this.hash === data.decoder.hash && this.known === data.known) return;
    this.hash = data.decoder.hash;
    this.known = data.known;
    const hash = this.hash;
    this.line.textContent = "Loading the decoder into this page…";
    readyDecoder(data.decoder, data.known, this.host.setStateValue).then(
      () => { if (this.hash === hash) this.line.textContent = ""; },
      () => { if (this.hash === hash) this.line.textContent = ""; }, // the card says why
    );
  }

  destroy() {}
}
