/**
 * Opening the decoder a view needs and telling the server how it went, once: the server
 * decides from this report whether a page decodes in the browser or falls back to its own
 * decoding (decoders.py). `known` is what the server has already heard for this decoder
 * ("ok", "failed" or null); nothing is sent again when that is still true.
 */
import { openDecoder } from "./decoder.js";
import { RuntimeUnavailable, loadRuntime } from "./runtime.js";
import { trace } from "./trace.js";

/**
 * @param {object} spec the decoder's description from the server
 * @param {string|null} known
 * @param {(name: string, value: object) => void} setStateValue the component's
 * @returns {Promise<import("./decoder.js").Decoder>} rejects when the page cannot decode
 */
export async function readyDecoder(spec, known, setStateValue) {
  try {
    const decoder = await openDecoder(spec);
    const runtime = await loadRuntime();
    const report = {
      hash: spec.hash, ok: true, runtime_ok: true, runtime: `onnxruntime-web ${runtime.version}`,
      ready_ms: Math.round(decoder.readyMs), wasm_from: runtime.wasmFrom, model_from: decoder.modelFrom,
    };
    trace("decoder", report);
    if (known !== "ok") setStateValue("status", report);
    return decoder;
  } catch (error) {
    const runtimeOk = !(error instanceof RuntimeUnavailable);
    const reason = runtimeOk ? `onnxruntime-web could not run this decoder (${short(error)})` : error.message;
    const report = { hash: spec.hash, ok: false, runtime_ok: runtimeOk, reason };
    trace("decoder", report);
    if (known !== "failed") setStateValue("status", report);
    throw error;
  }
}

function short(error) {
  const text = String(error && error.message ? error.message : error).replace(/\s+/g, " ");
  return text.length > 200 ? text.slice(0, 200) + "…" : text;
}
