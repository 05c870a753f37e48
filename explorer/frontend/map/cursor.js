/**
 * The cursor over the map, followed at display rate: the code under it (inverse.js), decoded in
 * the page by the model's own decoder (../decoder.js, onnxruntime-web), and the nearest real image
 * (images.js), drawn beside the map. A decode takes about a millisecond; when the mouse moves
 * faster than that, only the latest position is decoded (the ones in between are stale).
 */
import { codeAt } from "./inverse.js";
import { drawPixels } from "./images.js";

export class CursorFollower {
  /**
   * @param {object} parts {decodedCanvas, nearestCanvas, decodedCaption, nearestCaption, note}
   * @param {(x: number, y: number) => void} onNearest where the nearest real point is, for the overlay
   */
  constructor(parts, onNearest) {
    this.parts = parts;
    this.onNearest = onNearest;
    this.decoder = null; // a Decoder of ../decoder.js, once ready
    this.picture = null; // a Picture of ../picture.js drawing into decodedCanvas
    this.busy = false;
    this.latest = null;
    this.samples = []; // [ms from the mouse event to the decoded image drawn], for the benchmark
    this.context = null;
  }

  /** What the lookups need for the projection shown. */
  setContext(context) {
    this.context = context; // {projection meta, grid, codes, images, labelOf, positions}
  }

  setDecoder(decoder, picture) {
    this.decoder = decoder;
    this.picture = picture;
  }

  /** A mouse position in data units, with the event's time stamp. */
  move(x, y, stamp) {
    this.latest = { x, y, stamp };
    if (!this.busy) this.run();
  }

  async run() {
    this.busy = true;
    try {
      while (this.latest) {
        const { x, y, stamp } = this.latest;
        this.latest = null;
        await this.show(x, y, stamp);
      }
    } finally {
      this.busy = false;
    }
  }

  /** The code at (x, y), or null where the page has no way to it. */
  lookup(x, y) {
    const { projection, grid, codes } = this.context;
    return codeAt(projection, grid, codes, x, y);
  }

  async show(x, y, stamp) {
    if (!this.context) return;
    const found = this.lookup(x, y);
    this.current = { ...found, x, y };
    const { positions, images, labelOf } = this.context;
    const n = found.nearest;
    this.onNearest(positions[2 * n], positions[2 * n + 1]);
    if (images) {
      const pixels = images.pixels(n, () => this.current?.nearest === n && this.drawNearest(n));
      if (pixels) drawPixels(this.parts.nearestCanvas, pixels, images.spec.shape);
    }
    this.parts.nearestCaption.textContent = `nearest: #${n}${labelOf ? ` · ${labelOf(n)}` : ""}`;
    this.parts.note.textContent = describe(found, this.context.projection.method);
    if (found.code && this.decoder) {
      const pixels = await this.decoder.decode(found.code);
      this.picture.draw(pixels);
      this.picture.canvas.getContext("2d").getImageData(0, 0, 1, 1); // the pixels are there
      this.samples.push(performance.now() - stamp);
      if (this.samples.length > 10_000) this.samples.splice(0, 5_000);
      this.parts.decodedCaption.textContent = `decoded at (${x.toFixed(2)}, ${y.toFixed(2)})`;
    }
  }

  drawNearest(n) {
    const pixels = this.context.images.pixels(n);
    if (pixels) drawPixels(this.parts.nearestCanvas, pixels, this.context.images.spec.shape);
  }
}

/** How the code was found and how far the cursor is from real data, in words. */
export function describe(found, method) {
  if (method === "latent") return "The map is the latent plane: the code is the position itself.";
  if (method === "pca") {
    return `PCA's exact inverse: the code on the plane of the two principal axes. Nearest real image `
      + `${found.away.toFixed(1)}× the map's typical spacing between neighbours away.`;
  }
  const trust = found.away <= 1 ? "among the data" : found.away <= 3 ? "near the data" : "off the data: the map has no inverse here";
  return `Blended from the ${method === "tsne" ? "t-SNE" : "UMAP"} map's 8 nearest points' codes (weights 1/distance²). `
    + `Nearest real point ${found.away.toFixed(1)}× the map's typical spacing between neighbours away: ${trust}.`;
}
