/**
 * onnxruntime-web, loaded once per page and kept: its JavaScript (77 KB) is imported on first
 * use, its WebAssembly binary comes from the Cache API (asset-cache.js) and is handed over as
 * bytes, so the runtime never fetches anything itself.
 *
 * One thread: Streamlit sends no COOP/COEP headers, so SharedArrayBuffer (which threads need)
 * is not available; the decoders here are small enough for one.
 */
import { cachedBytes } from "./asset-cache.js";

const DIST = "./node_modules/onnxruntime-web/dist/";
const MODULE = DIST + "ort.wasm.bundle.min.mjs";
const WASM = DIST + "ort-wasm-simd-threaded.wasm";

/** The runtime cannot run in this browser; `message` says why, in words for the page. */
export class RuntimeUnavailable extends Error {}

let loading = null;

/** @returns {boolean} whether this browser exposes WebAssembly at all */
export function webAssemblyAvailable() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function";
}

/**
 * The one onnxruntime-web of this page.
 * @param {string} version the installed onnxruntime-web's, as the server read it from npm's files
 *   (so its JavaScript and its .wasm load at the same time)
 * @returns {Promise<{ort: object, version: string, wasmFrom: string, loadMs: number}>}
 */
export function loadRuntime(version) {
  loading ??= load(version);
  return loading;
}

async function load(version) {
  const started = performance.now();
  if (!webAssemblyAvailable()) throw new RuntimeUnavailable("WebAssembly is off in this browser");
  // the version in the .wasm's URL: a new onnxruntime-web is fetched once, never an old copy used
  const [ort, wasm] = await Promise.all([
    import(new URL(MODULE, import.meta.url).href),
    cachedBytes(new URL(`${WASM}?v=${version}`, import.meta.url)),
  ]);
  if (ort.env.versions.web !== version) throw new Error(`onnxruntime-web ${ort.env.versions.web} where ${version} was expected`);
  ort.env.wasm.wasmBinary = wasm.bytes;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  return { ort, version, wasmFrom: wasm.from, loadMs: performance.now() - started };
}
