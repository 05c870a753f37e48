/**
 * The dataset's own images, for "the nearest real image" beside the map: the server writes them
 * in blocks of a fixed number of images (uint8, (H, W, C), deflate-compressed; explorer/map_arrays.py),
 * and the page fetches a block the first time the cursor comes near one of its images, so a
 * dataset never has to be in the page (or in the server's memory) whole. Blocks are kept per page,
 * the most recently used first; a block the server has not written yet is asked for again later.
 */
const KEEP_BLOCKS = 48;
const RETRY_MS = 1500;

export class ImageBlocks {
  /** @param {{url: string, block: number, shape: number[], count: number}} spec the server's */
  constructor(spec) {
    this.spec = spec;
    this.blocks = new Map(); // block number -> Promise<Uint8Array> | Uint8Array
    this.failedAt = new Map();
  }

  /**
   * The pixels of image `index` if its block is here, else null (and the block is asked for).
   * @returns {Uint8Array|null} (H, W, C)
   */
  pixels(index, onArrive) {
    const { block, shape } = this.spec;
    const number = Math.floor(index / block);
    const size = shape[0] * shape[1] * shape[2];
    const held = this.blocks.get(number);
    if (held instanceof Uint8Array) {
      this.blocks.delete(number);
      this.blocks.set(number, held);
      const offset = (index - number * block) * size;
      return held.subarray(offset, offset + size);
    }
    if (!held && !(performance.now() - (this.failedAt.get(number) ?? -Infinity) < RETRY_MS)) {
      const fetching = fetchBlock(new URL(this.spec.url.replace("{block}", number), import.meta.url));
      this.blocks.set(number, fetching);
      fetching.then((bytes) => {
        this.blocks.set(number, bytes);
        while (this.blocks.size > KEEP_BLOCKS) this.blocks.delete(this.blocks.keys().next().value);
        onArrive?.();
      }, () => {
        this.blocks.delete(number);
        this.failedAt.set(number, performance.now());
      });
    }
    return null;
  }
}

async function fetchBlock(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const inflated = response.body.pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(inflated).arrayBuffer());
}

/**
 * Draw (H, W, C) uint8 pixels into a canvas of the image's own size (CSS scales it up, pixelated).
 * @param {HTMLCanvasElement} canvas
 */
export function drawPixels(canvas, pixels, shape) {
  const [height, width, channels] = shape;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const rgba = image.data;
  for (let p = 0, o = 0; p < width * height; p++, o += 4) {
    const r = pixels[p * channels];
    rgba[o] = r;
    rgba[o + 1] = channels >= 3 ? pixels[p * channels + 1] : r;
    rgba[o + 2] = channels >= 3 ? pixels[p * channels + 2] : r;
    rgba[o + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}
