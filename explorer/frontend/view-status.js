/**
 * The model card's part: loads the active model's decoder into the page as soon as any page
 * opens, so Sliders and Interpolate find it ready (the session lives as long as the page), and
 * reports when this browser cannot run it (the card then says the server decodes). Draws
 * nothing.
 */
import { readyDecoder } from "./readiness.js";

export class StatusView {
  constructor(root, data, host) {
    this.host = host;
    this.update(data);
  }

  update(data) {
    if (this.hash === data.decoder.hash) return;
    this.hash = data.decoder.hash;
    readyDecoder(data.decoder, this.host.setStateValue).catch(() => {}); // reported; the card says why
  }

  destroy() {}
}
