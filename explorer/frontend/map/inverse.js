/**
 * The code under the cursor, the way explorer/projection.py inverts each map:
 * - PCA: exact, mean + x · PC1 + y · PC2;
 * - a 2-d model's own plane: the position is the code;
 * - t-SNE and UMAP have no inverse: the codes of the K nearest map points, weighted by the
 *   inverse square of their distance to the cursor (on a point: that point's code), as
 *   NeighbourMap.inverse does on the server. How far the cursor is from the nearest real point,
 *   in units of the map's typical spacing between neighbours, says how much to trust it.
 */
import { codeRow } from "./half.js";

export const NEIGHBOURS = 8; // as NeighbourMap.inverse_neighbours
const POWER = 2; // weight = 1 / distance ** POWER

/**
 * @param {{method: string, inverse: object}} projection the projection pack's meta
 * @param {import("./grid.js").PointGrid} grid its points
 * @param {{codes: Float32Array|Uint16Array, dtype: string, dim: number}|null} codes the dataset's codes
 * @param {number} x
 * @param {number} y data units
 * @returns {{code: Float32Array|null, nearest: number, distance: number, away: number, how: string}}
 */
export function codeAt(projection, grid, codes, x, y) {
  const method = projection.method;
  const k = method === "pca" || method === "latent" ? 1 : NEIGHBOURS;
  const { indices, distances } = grid.nearest(x, y, k);
  const found = { nearest: indices[0], distance: distances[0], away: distances[0] / grid.spacing };
  if (method === "latent") return { ...found, code: Float32Array.of(x, y), how: "the point itself" };
  if (method === "pca") {
    const { mean, components } = projection.inverse;
    const dim = mean.length;
    const code = new Float32Array(dim);
    for (let d = 0; d < dim; d++) code[d] = mean[d] + x * components[0][d] + y * components[1][d];
    return { ...found, code, how: "PCA's exact inverse" };
  }
  if (!codes) return { ...found, code: null, how: "no codes in the page" };
  const dim = codes.dim;
  const code = new Float32Array(dim);
  const row = new Float32Array(dim);
  if (distances[0] === 0) {
    codeRow(codes.codes, codes.dtype, dim, indices[0], code);
    return { ...found, code, how: "on a point: its code" };
  }
  let total = 0;
  for (let j = 0; j < indices.length; j++) {
    const weight = 1 / distances[j] ** POWER;
    total += weight;
    codeRow(codes.codes, codes.dtype, dim, indices[j], row);
    for (let d = 0; d < dim; d++) code[d] += weight * row[d];
  }
  for (let d = 0; d < dim; d++) code[d] /= total;
  return { ...found, code, how: `${indices.length} nearest codes, weighted by 1/distance²` };
}
