/**
 * onnxruntime-web, loaded once per page and kept: its JavaScript (77 KB, the build with the
 * WebAssembly backend only) comes with this module (it touches WebAssembly only when a session
 * is made, so it loads in browsers without it too); its WebAssembly binary comes from the Cache
 * API (asset-cache.js) and is handed over as bytes, so the runtime never fetches anything itself.
 *
 * One thread: Streamlit sends no COOP/COEP headers, so SharedArrayBuffer (which threads need)
 * is not available; the decoders here are small enough for one.
 */
import * as ort from "./node_modules/onnxruntime-web/dist/ort.wasm.bundle.min.mjs";
import { cachedBytes } from "./asset-cache.js";

const WASM = "./node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm";

/** The runtime cannot run in this browser; `message` says why, in words for the page. */
export class RuntimeUnavailable extends Error {}

let loading = null;

/** @returns {boolean} whether this browser exposes WebAssembly at all */
export function webAssemblyAvailable() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function";
}

/**
 * The one onnxruntime-web of this page.
 * @returns {Promise<{ort: object, version: string, wasmFrom: string, loadMs: number}>}
 */
export function loadRuntime() {
  loading ??= load();
  return loading;
}

async function load() {
  const started = performance.now();
  if (!webAssemblyAvailable()) throw new RuntimeUnavailable("WebAssembly is off in this browser");
  const version = ort.env.versions.web;
  // the version in the .wasm's URL: a new onnxruntime-web is fetched once, never an old copy used
  const wasm = await cachedBytes(new URL(`${WASM}?v=${version}`, import.meta.url));
  ort.env.wasm.wasmBinary = wasm.bytes;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  return { ort, version, wasmFrom: wasm.from, loadMs: performance.now() - started };
}
