/**
 * A renderer for regl-scatterplot that draws straight into the visible canvas.
 *
 * regl-scatterplot's own renderer draws every frame into a float framebuffer, copies that onto
 * its WebGL canvas through a full-screen pass, then copies the WebGL canvas onto the 2D canvas
 * the page shows, on a context created with 4× multisampling and a preserved drawing buffer. With
 * a GPU those steps are free; in software WebGL (SwiftShader, what a machine without a GPU gets)
 * they are most of the 31 ms every frame costs whatever the number of points. The library takes a
 * `renderer` with this interface (its Renderer API: canvas, regl, gamma, render, onFrame, refresh,
 * resize, destroy), so this one renders the points directly, on an opaque white canvas (the
 * points blend over white as they would over the page) without multisampling: points are round
 * sprites smoothed in their own shader.
 */
import { createREGL } from "./vendor/regl-scatterplot.js";

const EXTENSIONS = ["OES_texture_float", "OES_element_index_uint", "WEBGL_color_buffer_float", "EXT_float_blend"];
const BACKGROUND = [1, 1, 1, 1];

/** @param {HTMLCanvasElement} canvas the canvas the scatterplot is given too */
export function createDirectRenderer(canvas) {
  const gl = canvas.getContext("webgl", { antialias: false, preserveDrawingBuffer: false, alpha: false });
  if (!gl) throw new Error("WebGL is not available in this browser");
  const extensions = EXTENSIONS.filter((name) => gl.getExtension(name));
  const regl = createREGL({ gl, extensions });
  const drawFns = new Set();
  let isDestroyed = false;
  const frame = regl.frame(() => {
    for (const draw of drawFns) draw();
  });
  return {
    get canvas() { return canvas; },
    get regl() { return regl; },
    gamma: 1,
    get isSupported() { return extensions.length === EXTENSIONS.length; },
    get isDestroyed() { return isDestroyed; },
    render(draw) {
      regl.clear({ color: BACKGROUND, depth: 1 });
      draw();
    },
    resize() { regl.poll(); },
    onFrame(draw) {
      drawFns.add(draw);
      return () => drawFns.delete(draw);
    },
    refresh() { regl.poll(); },
    destroy() {
      isDestroyed = true;
      frame.cancel();
      regl.destroy();
    },
  };
}
