/**
 * Bytes of an immutable URL, fetched once per browser and kept in the Cache API.
 *
 * Streamlit serves a component's files without a cache validator, so the browser's HTTP cache
 * would fetch them again on every page load (onnxruntime's .wasm is 14.8 MB). The URLs given
 * here never change content (a version or a content hash is part of them), so a stored copy is
 * always right. Where the Cache API is missing (it exists only in secure contexts: https or
 * localhost) the bytes come from the network every time.
 */
const CACHE_NAME = "latent-explorer-assets-v1";

/**
 * @param {URL|string} url an immutable URL on the app's own server
 * @param {{keep?: {prefix: string, count: number}}} options keep: at most `count` entries whose
 *   path starts with `prefix` (the newest), so decoders of models no longer used do not pile up
 * @returns {Promise<{bytes: ArrayBuffer, from: "cache"|"network"}>}
 */
export async function cachedBytes(url, options = {}) {
  const key = String(url);
  const cache = await openCache();
  if (cache) {
    const hit = await cache.match(key);
    if (hit) return { bytes: await hit.arrayBuffer(), from: "cache" };
  }
  const response = await fetch(key, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${new URL(key).pathname.split("/").pop()}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  if (cache) {
    try {
      await cache.put(key, new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }));
      if (options.keep) await prune(cache, options.keep.prefix, options.keep.count);
    } catch (error) {
      console.warn("latent-explorer: could not keep a copy in the Cache API", error); // quota: still usable
    }
  }
  return { bytes, from: "network" };
}

async function openCache() {
  if (!globalThis.caches) return null;
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null; // storage disabled (e.g. some private modes)
  }
}

async function prune(cache, prefix, count) {
  // keys() lists entries in the order they were put: the oldest first
  const matching = (await cache.keys()).filter((request) => new URL(request.url).pathname.includes(prefix));
  for (const request of matching.slice(0, Math.max(0, matching.length - count))) await cache.delete(request);
}
