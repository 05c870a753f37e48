/**
 * The map's arrays, as the server packs them (explorer/map_arrays.py): one file per (model,
 * dataset) and one per projection, named by the SHA-256 of their bytes, fetched once per page
 * and kept here, so switching projection or colouring, or coming back to the page, fetches
 * nothing again.
 *
 * Layout: 8 bytes of magic, a little-endian uint32 header length, the header (JSON: each array's
 * dtype, shape and byte offset, plus `meta`), then the arrays, each starting on an 8-byte boundary.
 * The typed arrays returned are views on the fetched bytes: nothing is copied.
 */
const MAGIC = "LXMAP1\0\0";
const KEEP = 16; // packs kept per page (projections of a few models); the oldest go first
const TYPES = {
  float32: Float32Array, float64: Float64Array, uint8: Uint8Array, uint16: Uint16Array,
  uint32: Uint32Array, int32: Int32Array, float16: Uint16Array, // float16: raw halves, see half.js
};

const packs = new Map(); // url -> Promise<Pack>, in order of last use

/**
 * @param {string} url relative to this module or absolute
 * @returns {Promise<{meta: object, arrays: Object<string, ArrayBufferView>, bytes: number, dtypes: Object<string,string>}>}
 */
export function loadPack(url) {
  const href = new URL(url, import.meta.url).href;
  let pack = packs.get(href);
  if (pack) {
    packs.delete(href);
  } else {
    pack = fetchPack(href);
    pack.catch(() => packs.delete(href)); // a failure is not kept: the next call tries again
  }
  packs.set(href, pack);
  while (packs.size > KEEP) packs.delete(packs.keys().next().value);
  return pack;
}

async function fetchPack(href) {
  const response = await fetch(href, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`map data ${href.split("/").pop()}: HTTP ${response.status}`);
  return parsePack(await response.arrayBuffer());
}

/** @param {ArrayBuffer} buffer */
export function parsePack(buffer) {
  const head = new Uint8Array(buffer, 0, 12);
  const magic = String.fromCharCode(...head.subarray(0, 8));
  if (magic !== MAGIC) throw new Error("not a map data file");
  const length = new DataView(buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, length)));
  const arrays = {};
  const dtypes = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const Type = TYPES[spec.dtype];
    if (!Type) throw new Error(`map data: unknown dtype ${spec.dtype}`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    arrays[name] = new Type(buffer, spec.offset, count);
    dtypes[name] = spec.dtype;
  }
  return { meta: header.meta || {}, arrays, dtypes, shapes: Object.fromEntries(
    Object.entries(header.arrays).map(([name, spec]) => [name, spec.shape])), bytes: buffer.byteLength };
}
