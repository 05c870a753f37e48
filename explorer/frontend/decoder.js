/**
 * The active model's decoder in the page: one onnxruntime-web session per decoder content hash,
 * kept for the life of the page (Streamlit's page switches do not reload it), so coming back
 * to a view costs nothing. The decoder's bytes come from the app's own server once per browser
 * (asset-cache.js; the URL names their SHA-256).
 *
 * A decoder's output is brought to the display contract the server uses: planar channels
 * (C, H, W) with values in [0, 1], whatever layout and pixel range the model itself has.
 */
import { cachedBytes } from "./asset-cache.js";
import { loadRuntime } from "./runtime.js";

const KEEP_SESSIONS = 4; // models switched between in one page; older sessions are released
const KEEP_CACHED = 8; // decoders kept in the Cache API per browser

const sessions = new Map(); // content hash -> Promise<Decoder>, in order of last use

/**
 * @param {{hash: string, url: string, latent_dim: number, shape: number[], layout: string,
 *          pixel_range: number[]}} spec what the server says about the decoder (decoders.py)
 * @returns {Promise<Decoder>} the same promise for every caller of one decoder
 */
export function openDecoder(spec) {
  let decoder = sessions.get(spec.hash);
  if (decoder) {
    sessions.delete(spec.hash); // re-inserted: the most recently used
  } else {
    decoder = create(spec);
    decoder.catch(() => sessions.delete(spec.hash)); // a failure is not kept: a reload may try again
  }
  sessions.set(spec.hash, decoder);
  while (sessions.size > KEEP_SESSIONS) {
    const [oldest, promise] = sessions.entries().next().value;
    sessions.delete(oldest);
    promise.then((d) => d.release(), () => {});
  }
  return decoder;
}

async function create(spec) {
  const started = performance.now();
  const url = new URL(spec.url, import.meta.url);
  // the runtime and the decoder's bytes at the same time
  const [runtime, model] = await Promise.all([
    loadRuntime(), cachedBytes(url, { keep: { prefix: "/decoders/", count: KEEP_CACHED } }),
  ]);
  const loaded = performance.now();
  const session = await runtime.ort.InferenceSession.create(new Uint8Array(model.bytes), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const opened = performance.now();
  const decoder = new Decoder(runtime, session, spec);
  decoder.decode(new Float32Array(spec.latent_dim)); // the first run allocates: not on a drag
  await decoder.idle;
  const ready = performance.now();
  decoder.readyMs = ready - started;
  // where the time went, for benchmarks/browser_live.py
  decoder.phases = { load_ms: loaded - started, session_ms: opened - loaded, first_run_ms: ready - opened };
  decoder.modelFrom = model.from;
  return decoder;
}

export class Decoder {
  constructor(runtime, session, spec) {
    this.runtime = runtime;
    this.session = session;
    this.spec = spec;
    this.input = session.inputNames[0];
    this.output = session.outputNames[0];
    const [channels, height, width] = spec.shape;
    this.channels = channels;
    this.height = height;
    this.width = width;
    this.idle = Promise.resolve(); // runs are chained: one at a time, in the order asked
  }

  /**
   * Decode one code; calls run one after another, every one of them (none is skipped).
   * @param {ArrayLike<number>} code latent_dim values
   * @returns {Promise<Float32Array>} (C, H, W) in [0, 1]
   */
  decode(code) {
    const z = Float32Array.from(code); // a copy: the caller may change its array meanwhile
    const result = this.idle.then(() => this.run(z));
    this.idle = result.then(() => {}, () => {});
    return result;
  }

  async run(z) {
    const { Tensor } = this.runtime.ort;
    const outputs = await this.session.run({ [this.input]: new Tensor("float32", z, [1, z.length]) });
    const data = outputs[this.output].data;
    return toDisplay(data, this.spec);
  }

  release() {
    this.session.release();
  }
}

/** The model's output (its layout, its pixel range) -> planar (C, H, W) in [0, 1]. */
export function toDisplay(data, spec) {
  const [channels, height, width] = spec.shape;
  const [low, high] = spec.pixel_range;
  const plain = spec.layout !== "NHWC" && low === 0 && high === 1;
  if (plain) return data instanceof Float32Array ? data : Float32Array.from(data);
  const out = new Float32Array(channels * height * width);
  const scale = 1 / (high - low);
  const pixels = height * width;
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < pixels; p++) {
      const value = spec.layout === "NHWC" ? data[p * channels + c] : data[c * pixels + p];
      out[c * pixels + p] = (value - low) * scale;
    }
  }
  return out;
}
