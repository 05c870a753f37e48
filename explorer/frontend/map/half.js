/**
 * IEEE half-precision floats read from their raw 16 bits: a million codes travel as float16
 * (half the bytes), and only the few rows the cursor needs are widened.
 */
const exponentTable = new Float32Array(32);
for (let e = 0; e < 32; e++) exponentTable[e] = 2 ** (e - 15);

/** @param {number} bits a uint16 holding one half float */
export function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * exponentTable[exponent] * (1 + fraction / 1024);
}

/**
 * Row `index` of a (N, D) matrix of codes as float32, whatever it was sent as.
 * @param {Float32Array|Uint16Array} codes
 * @param {string} dtype "float32" or "float16"
 */
export function codeRow(codes, dtype, dim, index, out = new Float32Array(dim)) {
  const start = index * dim;
  if (dtype === "float16") for (let d = 0; d < dim; d++) out[d] = halfToFloat(codes[start + d]);
  else for (let d = 0; d < dim; d++) out[d] = codes[start + d];
  return out;
}
