/**
 * Drawing a decoded image, planar (C, H, W) in [0, 1], into a canvas of the image's own size;
 * CSS scales it up with `image-rendering: pixelated`, so pixels stay pixels, as the server's
 * pictures do. Values become 8-bit levels exactly as the server's `images.to_uint8` does:
 * clipped to [0, 1], times 255, plus a half, truncated.
 */
export class Picture {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {number[]} shape [C, H, W]
   */
  constructor(canvas, shape) {
    const [channels, height, width] = shape;
    this.canvas = canvas;
    this.channels = channels;
    canvas.width = width;
    canvas.height = height;
    this.context = canvas.getContext("2d");
    this.image = this.context.createImageData(width, height);
    this.last = null; // the last values drawn (tests and benchmarks read them)
  }

  /** @param {Float32Array} pixels (C, H, W) in [0, 1] */
  draw(pixels) {
    const rgba = this.image.data;
    const count = this.canvas.width * this.canvas.height;
    const colour = this.channels >= 3;
    for (let p = 0, o = 0; p < count; p++, o += 4) {
      const r = level(pixels[p]);
      rgba[o] = r;
      rgba[o + 1] = colour ? level(pixels[count + p]) : r;
      rgba[o + 2] = colour ? level(pixels[2 * count + p]) : r;
      rgba[o + 3] = 255;
    }
    this.context.putImageData(this.image, 0, 0);
    this.last = pixels;
  }
}

function level(value) {
  if (!(value > 0)) return 0; // NaN too, as numpy's nan_to_num then clip would give
  if (value >= 1) return 255;
  return Math.floor(value * 255 + 0.5);
}
