/**
 * A point on a path through latent codes, the way explorer/latent.py walks it: each leg from
 * one waypoint to the next is a straight line (linear) or the great-circle arc with the norm
 * going linearly (slerp). Same formulas, in double precision, so the page's frame at a grid
 * position is the code the server decoded for the grid.
 */
const ANGLE_TOLERANCE = 1e-6; // radians, as latent.py

/**
 * @param {Float64Array[]} waypoints two or more codes
 * @param {number} position in [0, legs]: leg k runs from k to k + 1
 * @param {"linear"|"slerp"} method
 * @returns {Float64Array}
 */
export function pointOnPath(waypoints, position, method) {
  const legs = waypoints.length - 1;
  const clamped = Math.min(Math.max(position, 0), legs);
  const leg = Math.min(Math.floor(clamped), legs - 1);
  const t = clamped - leg;
  const step = method === "slerp" ? slerp : lerp;
  return step(waypoints[leg], waypoints[leg + 1], t);
}

export function lerp(a, b, t) {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + t * (b[i] - a[i]);
  return out;
}

export function slerp(a, b, t) {
  if (t === 0) return Float64Array.from(a);
  if (t === 1) return Float64Array.from(b);
  const normA = norm(a);
  const normB = norm(b);
  if (normA === 0 || normB === 0) return lerp(a, b, t);
  const unitA = a.map((v) => v / normA);
  const unitB = b.map((v) => v / normB);
  const angle = 2 * Math.atan2(norm(unitA.map((v, i) => v - unitB[i])), norm(unitA.map((v, i) => v + unitB[i])));
  if (angle < ANGLE_TOLERANCE) return lerp(a, b, t);
  let direction;
  if (Math.PI - angle < ANGLE_TOLERANCE) {
    // opposite codes: turn through a fixed direction orthogonal to a, as latent.py does
    let axis = 0;
    for (let i = 1; i < unitA.length; i++) if (Math.abs(unitA[i]) < Math.abs(unitA[axis])) axis = i;
    const ortho = unitA.map((v, i) => (i === axis ? 1 : 0) - unitA[axis] * v);
    const length = norm(ortho);
    direction = unitA.map((v, i) => Math.cos(Math.PI * t) * v + Math.sin(Math.PI * t) * (ortho[i] / length));
  } else {
    const s = Math.sin(angle);
    direction = unitA.map((v, i) => (Math.sin((1 - t) * angle) * v + Math.sin(t * angle) * unitB[i]) / s);
  }
  const length = (1 - t) * normA + t * normB;
  return direction.map((v) => length * v);
}

function norm(v) {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum);
}
