/**
 * Nearest map points to a position, found in the page: a uniform grid over the points (a
 * counting sort of their cells into one Uint32Array, O(N) to build: 1,000,000 points in tens of
 * milliseconds), searched ring by ring around the cursor's cell. This is what the cursor's code
 * and nearest image are looked up with, at display rate, never the scatter library's hover.
 */
const POINTS_PER_CELL = 4; // the mean number of points in a cell; rings stay small
const SPACING_K = 8; // the neighbour whose distance is the map's typical spacing (as many as the inverse blends)

export class PointGrid {
  /**
   * @param {Float32Array} positions (N, 2) interleaved x, y in data units
   * @param {number} pointsPerCell the mean number of points in a cell
   */
  constructor(positions, pointsPerCell = POINTS_PER_CELL) {
    const n = positions.length / 2;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = positions[2 * i], y = positions[2 * i + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    const width = Math.max(maxX - minX, 1e-12), height = Math.max(maxY - minY, 1e-12);
    const cells = Math.max(1, n / pointsPerCell);
    const side = Math.sqrt((width * height) / cells) || 1;
    this.cols = Math.max(1, Math.min(4096, Math.ceil(width / side)));
    this.rows = Math.max(1, Math.min(4096, Math.ceil(height / side)));
    this.cellW = width / this.cols;
    this.cellH = height / this.rows;
    this.minX = minX;
    this.minY = minY;
    this.positions = positions;
    this.count = n;
    const cellOf = new Uint32Array(n);
    const starts = new Uint32Array(this.cols * this.rows + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cell(positions[2 * i], positions[2 * i + 1]);
      cellOf[i] = c;
      starts[c + 1]++;
    }
    for (let c = 0; c < this.cols * this.rows; c++) starts[c + 1] += starts[c];
    const fill = starts.slice(0, -1);
    const members = new Uint32Array(n);
    for (let i = 0; i < n; i++) members[fill[cellOf[i]]++] = i;
    this.starts = starts;
    this.members = members;
    this.spacing = pointsPerCell === POINTS_PER_CELL ? this.meanSpacing() : 0;
  }

  cell(x, y) {
    const col = Math.min(this.cols - 1, Math.max(0, Math.floor((x - this.minX) / this.cellW)));
    const row = Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.minY) / this.cellH)));
    return row * this.cols + col;
  }

  /**
   * The k points nearest to (x, y), nearest first.
   * @returns {{indices: Uint32Array, distances: Float64Array}}
   */
  nearest(x, y, k) {
    k = Math.min(k, this.count);
    const best = new Float64Array(k).fill(Infinity); // squared distances, ascending
    const bestIndex = new Uint32Array(k);
    const col = Math.min(this.cols - 1, Math.max(0, Math.floor((x - this.minX) / this.cellW)));
    const row = Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.minY) / this.cellH)));
    const maxRing = Math.max(this.cols, this.rows);
    const p = this.positions;
    for (let ring = 0; ring <= maxRing; ring++) {
      // every point of rings beyond this one is at least (ring) cells away from the cursor's cell
      const reach = (ring - 1) * Math.min(this.cellW, this.cellH);
      if (ring > 0 && best[k - 1] < reach * reach) break;
      for (let r = row - ring; r <= row + ring; r++) {
        if (r < 0 || r >= this.rows) continue;
        const edge = r === row - ring || r === row + ring;
        for (let c = col - ring; c <= col + ring; c += edge ? 1 : 2 * ring || 1) {
          if (c < 0 || c >= this.cols) continue;
          const cell = r * this.cols + c;
          for (let m = this.starts[cell]; m < this.starts[cell + 1]; m++) {
            const i = this.members[m];
            const dx = p[2 * i] - x, dy = p[2 * i + 1] - y;
            const d = dx * dx + dy * dy;
            if (d < best[k - 1]) insert(best, bestIndex, d, i);
          }
        }
      }
    }
    const distances = new Float64Array(k);
    for (let j = 0; j < k; j++) distances[j] = Math.sqrt(best[j]);
    return { indices: bestIndex, distances };
  }

  /**
   * The median distance from a point to its SPACING_K-th nearest neighbour, on a sample: the map's
   * own scale (the k-th, not the first: maps stack points on top of each other, and distances of
   * zero would make every cursor look far from the data).
   */
  meanSpacing(sample = 400) {
    const n = this.count;
    if (n < 2) return 1;
    const step = Math.max(1, Math.floor(n / sample));
    const found = [];
    for (let i = 0; i < n; i += step) {
      const { distances } = this.nearest(this.positions[2 * i], this.positions[2 * i + 1], SPACING_K + 1);
      if (Number.isFinite(distances[SPACING_K])) found.push(distances[SPACING_K]);
    }
    found.sort((a, b) => a - b);
    return found[Math.floor(found.length / 2)] || 1;
  }
}

function insert(best, bestIndex, d, i) {
  let j = best.length - 1;
  while (j > 0 && best[j - 1] > d) {
    best[j] = best[j - 1];
    bestIndex[j] = bestIndex[j - 1];
    j--;
  }
  best[j] = d;
  bestIndex[j] = i;
}
