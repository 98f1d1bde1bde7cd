/**
 * Float64 CPU references of the untuned ops (../../generator/ops.ts). Inputs are f32-valued arrays
 * (f16-rounded values model f16 tables/caches); results are float64 (Float64Array) unless noted.
 * @throws Error if an array is shorter than the op's layout requires.
 */
import type { AddShape, ArgmaxShape, EmbedShape, KvWriteShape, RmsNormShape, RopeShape, SwigluShape } from '../../generator/ops';

function need(name: string, a: ArrayLike<number>, n: number): void {
  if (a.length < n) throw new Error(`reference: ${name} has ${a.length} < ${n} elements`);
}

/** Y[r][c] = X[r][c] / sqrt(mean_c X[r]^2 + eps) * W[c]; X [rows][cols], W [cols]. */
export function rmsNormReference(s: RmsNormShape, x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  need('X', x, s.rows * s.cols);
  need('W', w, s.cols);
  const y = new Float64Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) {
    let ss = 0;
    for (let c = 0; c < s.cols; c++) ss += x[r * s.cols + c] ** 2;
    const scale = 1 / Math.sqrt(ss / s.cols + s.eps);
    for (let c = 0; c < s.cols; c++) y[r * s.cols + c] = x[r * s.cols + c] * scale * w[c];
  }
  return y;
}

/** RoPE of X [tokens][heads][D] (returns a rotated copy); pair i rotated by (pos0+t) * base^(-2i/D). */
export function ropeReference(s: RopeShape, x: ArrayLike<number>): Float64Array {
  const { tokens, heads, D, pos0, base, mode } = s;
  need('X', x, tokens * heads * D);
  const y = Float64Array.from({ length: tokens * heads * D }, (_, i) => x[i]);
  const half = D / 2;
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const row = (t * heads + h) * D;
      for (let i = 0; i < half; i++) {
        const theta = (pos0 + t) * Math.pow(base, (-2 * i) / D);
        const c = Math.cos(theta);
        const sn = Math.sin(theta);
        const i0 = mode === 'adjacent' ? row + 2 * i : row + i;
        const i1 = mode === 'adjacent' ? i0 + 1 : i0 + half;
        const x0 = y[i0];
        const x1 = y[i1];
        y[i0] = x0 * c - x1 * sn;
        y[i1] = x0 * sn + x1 * c;
      }
    }
  }
  return y;
}

/** Y[i] = G[i] / (1 + exp(-G[i])) * U[i]. */
export function swigluReference(s: SwigluShape, g: ArrayLike<number>, u: ArrayLike<number>): Float64Array {
  need('G', g, s.n);
  need('U', u, s.n);
  const y = new Float64Array(s.n);
  for (let i = 0; i < s.n; i++) y[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
  return y;
}

/** X + Y (X is not modified). */
export function addReference(s: AddShape, x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  need('X', x, s.n);
  need('Y', y, s.n);
  const out = new Float64Array(s.n);
  for (let i = 0; i < s.n; i++) out[i] = x[i] + y[i];
  return out;
}

/** Y[t][c] = table[ids[t]][c]; table [vocab][dim]. @throws Error on an out-of-range id. */
export function embedReference(s: EmbedShape, table: ArrayLike<number>, ids: ArrayLike<number>): Float64Array {
  need('ids', ids, s.tokens);
  const vocab = Math.floor(table.length / s.dim);
  const y = new Float64Array(s.tokens * s.dim);
  for (let t = 0; t < s.tokens; t++) {
    if (ids[t] >= vocab) throw new Error(`embedReference: id ${ids[t]} >= vocab ${vocab}`);
    for (let c = 0; c < s.dim; c++) y[t * s.dim + c] = table[ids[t] * s.dim + c];
  }
  return y;
}

/**
 * cache[h][pos0+t][d] = src[t][h][d]: returns the updated copy of `cache` ([kvHeads][kvStride][D]);
 * `convert` models the cache dtype (e.g. f16 rounding), identity by default.
 */
export function kvWriteReference(
  s: KvWriteShape,
  src: ArrayLike<number>,
  cache: ArrayLike<number>,
  convert: (v: number) => number = (v) => v,
): Float64Array {
  const { tokens, kvHeads, D, pos0, kvStride } = s;
  need('src', src, tokens * kvHeads * D);
  need('cache', cache, kvHeads * kvStride * D);
  if (pos0 + tokens > kvStride) throw new Error(`kvWriteReference: pos0 + tokens > kvStride`);
  const out = Float64Array.from({ length: kvHeads * kvStride * D }, (_, i) => cache[i]);
  for (let t = 0; t < tokens; t++)
    for (let h = 0; h < kvHeads; h++)
      for (let d = 0; d < D; d++) out[(h * kvStride + pos0 + t) * D + d] = convert(src[(t * kvHeads + h) * D + d]);
  return out;
}

/** Smallest index of the largest X[i]; NaNs ignored; 0 when all are NaN. */
export function argmaxReference(s: ArgmaxShape, x: ArrayLike<number>): number {
  need('X', x, s.n);
  let best = -1;
  for (let i = 0; i < s.n; i++) {
    if (Number.isNaN(x[i])) continue;
    if (best < 0 || x[i] > x[best]) best = i;
  }
  return Math.max(best, 0);
}
