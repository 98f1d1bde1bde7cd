/**
 * Float64 CPU references of the untuned ops (../../generator/ops.ts). Inputs are f32-valued arrays
 * (f16-rounded values model f16 tables/caches); results are float64 (Float64Array) unless noted.
 * @throws Error if an array is shorter than the op's layout requires.
 */
import type { AddShape, ArgmaxShape, AttentionOShape, EmbedShape, FfnShape, RmsNormShape, RopeKvShape, SwigluShape } from '../../generator/ops';
import { attentionReference } from './attention';

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

/**
 * rope_kv (generator/ops.ts RopeKvShape) at position p0 (s.pos0, or the step position with dynamicPos):
 * returns Q f32 [tokens][heads][D] roped, and updated copies of the K and V caches
 * ([kvHeads][kvStride][D]) with rope(k) and v written at rows p0 + t; `convert` models the cache dtype
 * (e.g. f16 rounding), identity by default. Pair i is rotated by (p0 + t) * base^(-2i/D).
 */
export function ropeKvReference(
  s: RopeKvShape,
  src: { q: ArrayLike<number>; k: ArrayLike<number>; v: ArrayLike<number> },
  caches: { k: ArrayLike<number>; v: ArrayLike<number> },
  p0: number = s.pos0,
  convert: (v: number) => number = (v) => v,
): { q: Float64Array; kCache: Float64Array; vCache: Float64Array } {
  const { tokens, heads, kvHeads, D, kvStride, base, mode } = s;
  need('Qsrc', src.q, s.qOffset + (tokens - 1) * s.qStride + heads * D);
  need('Ksrc', src.k, s.kOffset + (tokens - 1) * s.kStride + kvHeads * D);
  need('Vsrc', src.v, s.vOffset + (tokens - 1) * s.vStride + kvHeads * D);
  need('Kcache', caches.k, kvHeads * kvStride * D);
  need('Vcache', caches.v, kvHeads * kvStride * D);
  if (p0 + tokens > kvStride) throw new Error('ropeKvReference: position + tokens > kvStride');
  const q = new Float64Array(tokens * heads * D);
  const kCache = Float64Array.from(caches.k);
  const vCache = Float64Array.from(caches.v);
  const half = D / 2;
  const rotate = (x: ArrayLike<number>, at: number, pos: number, out: (e: number, v: number) => void) => {
    for (let i = 0; i < half; i++) {
      const theta = pos * Math.pow(base, (-2 * i) / D);
      const e0 = mode === 'adjacent' ? 2 * i : i;
      const e1 = mode === 'adjacent' ? e0 + 1 : e0 + half;
      const x0 = x[at + e0];
      const x1 = x[at + e1];
      out(e0, x0 * Math.cos(theta) - x1 * Math.sin(theta));
      out(e1, x0 * Math.sin(theta) + x1 * Math.cos(theta));
    }
  };
  for (let t = 0; t < tokens; t++) {
    const pos = p0 + t;
    for (let h = 0; h < heads; h++) rotate(src.q, s.qOffset + t * s.qStride + h * D, pos, (e, v) => (q[(t * heads + h) * D + e] = v));
    for (let h = 0; h < kvHeads; h++) {
      const row = (h * kvStride + pos) * D;
      rotate(src.k, s.kOffset + t * s.kStride + h * D, pos, (e, v) => (kCache[row + e] = convert(v)));
      for (let d = 0; d < D; d++) vCache[row + d] = convert(src.v[s.vOffset + t * s.vStride + h * D + d]);
    }
  }
  return { q, kCache, vCache };
}

/** Y[r][i] = silu(g) * u with g = G[gOffset + r*gStride + i], u = U[uOffset + r*uStride + i]; Y [rows][width]. */
export function swigluReference(s: SwigluShape, g: ArrayLike<number>, u: ArrayLike<number>): Float64Array {
  need('G', g, s.gOffset + (s.rows - 1) * s.gStride + s.width);
  need('U', u, s.uOffset + (s.rows - 1) * s.uStride + s.width);
  const y = new Float64Array(s.rows * s.width);
  for (let r = 0; r < s.rows; r++) {
    for (let i = 0; i < s.width; i++) {
      const gv = g[s.gOffset + r * s.gStride + i];
      y[r * s.width + i] = (gv / (1 + Math.exp(-gv))) * u[s.uOffset + r * s.uStride + i];
    }
  }
  return y;
}

/**
 * ffn (generator/ops.ts FfnShape): X[n] + Wd (silu(Wg x') * (Wu x')) with x' = rmsnorm(X[n]) * G, in float64.
 * wgu: gate rows then up rows, [2 * hidden][dim]; wd: [dim][hidden]; X [N][dim]; G [dim]. Returns [N][dim].
 * `residual: false` leaves out the X term (to measure the error of FFN(X) alone).
 */
export function ffnReference(
  s: FfnShape,
  w: { wgu: ArrayLike<number>; wd: ArrayLike<number>; g: ArrayLike<number> },
  x: ArrayLike<number>,
  residual = true,
): Float64Array {
  const { N, dim, hidden } = s;
  need('Wgu', w.wgu, 2 * hidden * dim);
  need('Wd', w.wd, dim * hidden);
  need('G', w.g, dim);
  need('X', x, N * dim);
  const xn = rmsNormReference({ rows: N, cols: dim, eps: s.eps }, x, w.g);
  const y = new Float64Array(N * dim);
  const h = new Float64Array(hidden);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < hidden; j++) {
      let g = 0;
      let u = 0;
      for (let k = 0; k < dim; k++) {
        g += w.wgu[j * dim + k] * xn[n * dim + k];
        u += w.wgu[(hidden + j) * dim + k] * xn[n * dim + k];
      }
      h[j] = (g / (1 + Math.exp(-g))) * u;
    }
    for (let m = 0; m < dim; m++) {
      let acc = residual ? x[n * dim + m] : 0;
      for (let j = 0; j < hidden; j++) acc += w.wd[m * hidden + j] * h[j];
      y[n * dim + m] = acc;
    }
  }
  return y;
}

/**
 * attention_o (generator/ops.ts AttentionOShape): X[i][m] + sum_{h,d} Wo[m][h*D + d] * O[i][h][d] with
 * O = attention(Q, K, V) (./attention.ts), in float64. wo [dim][heads*D]; X [queries][dim] (null: zeros, the
 * projection alone). Returns [queries][dim].
 */
export function attentionOReference(
  s: AttentionOShape,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  wo: ArrayLike<number>,
  x: ArrayLike<number> | null,
): Float64Array {
  const K = s.heads * s.D;
  need('Wo', wo, s.dim * K);
  if (x) need('X', x, s.queries * s.dim);
  const o = attentionReference(s, q, k, v);
  const y = new Float64Array(s.queries * s.dim);
  for (let i = 0; i < s.queries; i++) {
    for (let m = 0; m < s.dim; m++) {
      let acc = x ? x[i * s.dim + m] : 0;
      for (let c = 0; c < K; c++) acc += wo[m * K + c] * o[i * K + c];
      y[i * s.dim + m] = acc;
    }
  }
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
