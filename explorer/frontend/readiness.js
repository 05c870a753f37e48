/**
 * Opening the decoder a view needs, and, for the model card's view, telling the server when the
 * page cannot run it: the server then decodes for this session instead (status.py). Success is
 * not reported (nothing to change, and a report would rerun the app). Only the model card's view
 * reports: it sits outside every fragment, so its report reruns the whole app, the card included.
 */
import { openDecoder } from "./decoder.js";
import { RuntimeUnavailable, loadRuntime } from "./runtime.js";
import { trace } from "./trace.js";

/**
 * @param {object} spec the decoder's description from the server
 * @param {((name: string, value: object) => void) | null} setStateValue the component's, to report
 *   a failure with; null: do not report
 * @returns {Promise<import("./decoder.js").Decoder>} rejects when the page cannot decode
 */
export async function readyDecoder(spec, setStateValue) {
  try {
    const decoder = await openDecoder(spec);
    const runtime = await loadRuntime();
    trace("decoder", {
      hash: spec.hash, ok: true, runtime: `onnxruntime-web ${runtime.version}`, ready_ms: Math.round(decoder.readyMs),
      runtime_ms: Math.round(runtime.loadMs), ...decoder.phases, wasm_from: runtime.wasmFrom, model_from: decoder.modelFrom,
    });
    return decoder;
  } catch (error) {
    const runtimeOk = !(error instanceof RuntimeUnavailable);
    const reason = runtimeOk ? `onnxruntime-web could not run this decoder (${short(error)})` : error.message;
    const report = { hash: spec.hash, ok: false, runtime_ok: runtimeOk, reason };
    trace("decoder", report);
    if (setStateValue) setStateValue("status", report);
    throw error;
  }
}

function short(error) {
  const text = String(error && error.message ? error.message : error).replace(/\s+/g, " ");
  return text.length > 200 ? text.slice(0, 200) + "…" : text;
}
