/**
 * Operation contracts: the problem shape of each op and the memory layout of its bindings.
 * Every family implementing an op follows its contract exactly; references (tuner/reference),
 * the tuner and the runtime rely on it. All layouts are row-major, contiguous, little-endian.
 */

/**
 * Weight storage types supported by the matmul families. 'q8_0' and 'q4_0' are ggml's block formats
 * (32 elements per block, each block an f16 scale d followed by the quants; see QUANT_BLOCKS); a
 * quantized matrix of M rows x K (K % 32 == 0) is M * K/32 blocks; 'q4_k' / 'q6_k' are ggml's K-quants
 * (256-value super-blocks, K % 256 == 0), row-major, packed with no padding.
 */
export type WeightType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
/** The ggml block-quantized weight types. */
export type QuantType = 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
/**
 * K/V cache storage types. 'q8_0' and 'q4_0' are ggml's block quantizations along D (blocks of 32 values, f16 scale d;
 * q8_0: int8 q, d = max|x| / 127, value q * d; q4_0: 4-bit q, d = m / -8 with m the value of largest magnitude,
 * value (q - 8) * d) in kpack's cache layout (kvCacheBytes): every cache row's quants contiguous, the scales in a
 * plane after all quants, so a row is written by its own invocations and read with aligned word loads.
 */
export type KvType = 'f32' | 'f16' | 'q8_0' | 'q4_0';
/** The block-quantized K/V cache types. */
export type KvQuantType = 'q8_0' | 'q4_0';

/** K/V cache types (KvType), in the order CLIs list them. */
export const KV_TYPES: readonly KvType[] = ['f16', 'f32', 'q8_0', 'q4_0'];

/** Whether a K/V type is block-quantized (q8_0, q4_0). */
export const isKvQuantType = (t: string): t is KvQuantType => t === 'q8_0' || t === 'q4_0';

/**
 * f16 scales per cache row of a quantized (q8_0 / q4_0) cache: D / 32 blocks rounded up to an even count, so each
 * row's scales are whole 32-bit words (no two rows share a word: rows are written concurrently).
 */
export const kvScalesPerRow = (D: number): number => 2 * Math.ceil(D / 64);

/** Quant bytes per cache row of head dim D: D (q8_0, one int8 per value) or D / 2 (q4_0, two nibbles per byte). */
export const kvQuantRowBytes = (type: KvQuantType, D: number): number => (type === 'q8_0' ? D : D / 2);

/**
 * Bytes of a K (or V) cache of `rows` rows (kvHeads * kvStride) of head dim D:
 * - f32 / f16: rows * D elements, row r (= kvHead * kvStride + position) at element r * D.
 * - q8_0 / q4_0 (D % 32 == 0): the quants of every row from byte 0, kvQuantRowBytes(type, D) per row (row r's block b
 *   at r * rowBytes + b * rowBytes / (D/32); q8_0: byte i of a block is element i; q4_0: byte j holds element j in its
 *   low nibble and j + 16 in its high nibble, as ggml's block_q4_0), then f16 scales [rows][kvScalesPerRow(D)] from
 *   byte rows * rowBytes (block b of row r: half b of that row's scales; the padding half of an odd D/32 is never read).
 * @throws RangeError for a quantized type with D not a multiple of 32.
 */
export function kvCacheBytes(type: KvType, rows: number, D: number): number {
  if (isKvQuantType(type)) {
    if (D % 32) throw new RangeError(`${type} K/V cache needs a head dim that is a multiple of 32, got D = ${D}`);
    return rows * (kvQuantRowBytes(type, D) + 2 * kvScalesPerRow(D));
  }
  return rows * D * (type === 'f16' ? 2 : 4);
}

/**
 * matmul: D = B * A^T (ggml's mul_mat convention).
 * - A (binding 0, "A"): weights, M rows x K, dtype = instance weight type; for q8_0/q4_0 each row is
 *   K/32 ggml blocks (K % 32 == 0), weightBytes(type, M*K) bytes in all, dequantized in the kernel.
 * - B (binding 1, "B"): activations f32, N rows x K.
 * - D (binding 2, "D"): f32, N rows x M: D[n][m] = sum_k A[m][k] * B[n][k].
 * FLOPs = 2*M*N*K. GEMV is the N <= 8 regime.
 */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** Fused epilogue (matmul.vec only; families with `fusesEpilogue`); absent = plain D = B A^T. */
  epilogue?: MatmulEpilogue;
}

/**
 * What a matmul may fuse around the product (decode-step fusion):
 * - norm: B rows are RMS-normalized first, B'[n][k] = B[n][k] * G[k] / sqrt(mean_k(B[n]^2) + eps),
 *   G f32 [K] on binding 3 ("G"); exactly rms_norm followed by the matmul.
 * - glu: A has 2M rows, gate rows 0..M-1 then up rows M..2M-1; D[n][m] = silu(g) * u with g, u the
 *   products with rows m and M + m (swiglu fused; M is the output width).
 * - residual: D[n][m] += the result (D is read; the residual add fused).
 * - rope: the decode QKV projection's attention prologue (rope_kv fused, families with `ropeSince`): A's
 *   rows are [Q | K | V] (M = qRows + 2 * kvRows); D holds the roped Q compactly, f32 [N][qRows]; token n's
 *   roped K and its V go to row pos0 + n of the caches on bindings "Kcache" / "Vcache" ([kvHeads][kvStride][D],
 *   kvType), exactly as rope_kv with mode 'adjacent' (pairs (2i, 2i+1) of a head rotated by
 *   pos * base^(-2i/D)). With dynamicPos the position of token 0 is u32 [0] of binding "step".
 */
export interface MatmulEpilogue {
  norm?: { eps: number };
  glu?: boolean;
  residual?: boolean;
  rope?: MatmulRope;
}

/** The rope epilogue's layout (MatmulEpilogue.rope): rows per part, head dim, cache geometry and position. */
export interface MatmulRope {
  /** Q rows (heads * D) and K (= V) rows (kvHeads * D) of A. */
  qRows: number;
  kvRows: number;
  /** Head dim (even; qRows and kvRows are multiples of it). */
  D: number;
  /** Rotary base (theta). */
  base: number;
  /** Position of token 0 (ignored with dynamicPos) and the caches' capacity in positions. */
  pos0: number;
  kvStride: number;
  kvType: KvType;
  dynamicPos?: boolean;
}

/**
 * Positions per replay window of a recorded decode step (runtime/model/llama.ts): a step recorded once serves the
 * positions [w*REPLAY_WINDOW, (w+1)*REPLAY_WINDOW), its attention planned (dynamicPos) for a KV length of the
 * window's end. The tuner times decode attention at window ends for the same reason (tuner/workloads.ts).
 */
export const REPLAY_WINDOW = 256;

/**
 * attention (flash attention, softmax(Q K^T * scale + mask) V):
 * - Q (binding 0): f32 [queries][heads][D]
 * - K (binding 1): kvType [kvHeads][kvStride][D]   (only rows < kvLength are read)
 * - V (binding 2): kvType [kvHeads][kvStride][D]
 * - O (binding 3): f32 [queries][heads][D]
 * - scratch (binding 4): f32, family-defined (split-KV partials)
 * GQA: query head h reads KV head floor(h / (heads / kvHeads)).
 * Causal: query row i (absolute position queryPos0 + i) sees KV rows j <= queryPos0 + i.
 */
export interface AttentionShape {
  D: number;
  heads: number;
  kvHeads: number;
  queries: number;
  kvLength: number;
  kvStride: number;
  queryPos0: number;
  causal: boolean;
  /** Softmax scale, usually 1/sqrt(D). */
  scale: number;
  /**
   * Decode-step replay: the real position p is read at run time from the "step" binding (u32 [0]), with
   * queryPos0 = p and kvLength = p + queries; the shape's kvLength / queryPos0 are then only the upper
   * bound the dispatch grid (split count) is planned for. Families without support reject such shapes.
   */
  dynamicPos?: boolean;
}

/** rms_norm: Y[r][c] = X[r][c] / sqrt(mean_c(X[r]^2) + eps) * W[c]. X, W, Y f32 (bindings 0, 1, 2). */
export interface RmsNormShape {
  rows: number;
  cols: number;
  eps: number;
}

/**
 * add_rms_norm: X[r][c] += R[r][c] (X, binding 0, read-write), then Y[r][c] = X[r][c] / sqrt(mean_c(X[r]^2) + eps)
 * * W[c] with the updated X (R binding 1, W binding 2 [cols], Y binding 3; f32 [rows][cols]): add then rms_norm.
 */
export interface AddRmsNormShape {
  rows: number;
  cols: number;
  eps: number;
}

/**
 * swiglu: Y[r][i] = silu(g) * u = g / (1 + exp(-g)) * u with g = G[gOffset + r*gStride + i] and
 * u = U[uOffset + r*uStride + i] (elements): one fused gate|up product [rows][2*width] (G = U,
 * strides 2*width, uOffset = width) or two separate ones. G, U (bindings 0, 1) f32; Y (binding 2)
 * f32 [rows][width].
 */
export interface SwigluShape {
  rows: number;
  width: number;
  gStride: number;
  uStride: number;
  gOffset: number;
  uOffset: number;
}

/** add: X[i] += Y[i], X (binding 0, read-write) and Y (binding 1) f32, n elements. */
export interface AddShape {
  n: number;
}

/**
 * embed: Y[t][c] = table[ids[t]][c] as f32. table (binding 0) dtype = instance type [vocab][dim],
 * ids (binding 1) u32 [tokens], Y (binding 2) f32 [tokens][dim].
 */
export interface EmbedShape {
  tokens: number;
  dim: number;
}

/**
 * rope_kv: the attention prologue of one layer, after the Q/K/V products. Token t is at position
 * pos0 + t (or step[0] + t with dynamicPos). Sources are f32 rows with element strides and offsets, so
 * one fused QKV product [tokens][qDim + 2*kvDim] or three separate ones serve:
 *   Qsrc[qOffset + t*qStride + h*D + d] (h < heads), Ksrc[kOffset + t*kStride + h*D + d],
 *   Vsrc[vOffset + t*vStride + h*D + d] (h < kvHeads).
 * Writes Q f32 [tokens][heads][D] = rope(q), Kcache[h][pos][d] = rope(k), Vcache[h][pos][d] = v
 * (caches kvType [kvHeads][kvStride][D], the instance's type). rope: pair i (0 <= i < D/2) is rotated
 * by angle pos * base^(-2i/D); mode 'adjacent' rotates (x[2i], x[2i+1]) (llama2.c, ggml's normal mode),
 * 'neox' rotates (x[i], x[i + D/2]).
 * Bindings: Qsrc 0, Ksrc 1, Vsrc 2, Q 3, Kcache 4, Vcache 5, step 6 (u32, only with dynamicPos).
 */
export interface RopeKvShape {
  tokens: number;
  heads: number;
  kvHeads: number;
  D: number;
  pos0: number;
  kvStride: number;
  base: number;
  mode: 'adjacent' | 'neox';
  qStride: number;
  kStride: number;
  vStride: number;
  qOffset: number;
  kOffset: number;
  vOffset: number;
  dynamicPos?: boolean;
}

/** argmax: out[0] = the smallest index of the largest X[i]; X (binding 0) f32 [n], out (binding 1) u32 [1]. */
export interface ArgmaxShape {
  n: number;
}

/**
 * copy: dst[i] = src[i] for `bytes` bytes (a positive multiple of 16: the kernel moves 16-byte uvec4s).
 * src (binding 0) and dst (binding 1) are raw bytes. Not an inference op: the device's copy bandwidth,
 * measured by `kpack bench-ops`, is the memory roof its rows are compared with.
 */
export interface CopyShape {
  bytes: number;
}

/**
 * ffn: a Llama feed-forward block for a decode batch, residual included, as one op:
 *   Y[n] += X[n] + Wd (silu(g) * u),  g = Wg x', u = Wu x',  x' = rmsnorm(X[n]) * G  (per token n < N)
 * - Wgu (binding "Wgu"): gate rows 0..hidden-1 then up rows hidden..2*hidden-1, each `dim` wide (the
 *   matmul epilogue.glu layout), the instance's gate|up type (kpack's GPU layout for q8_0 / q4_0);
 * - X (binding "X"): f32 [N][dim], the residual stream (read only);
 * - G (binding "G"): f32 [dim], the RMSNorm weight; eps in the shape;
 * - Wd (binding "Wd"): the down projection, dim rows x hidden, of the instance's down type (ffnInstanceTypes:
 *   the instance key names both types, e.g. "q4_k.q6_k" for Q4_K_M layers with a q6_k down projection);
 * - Y (binding "Y"): f32 [N][dim], read-write: must hold zeros on entry (the kernels add partial sums into it
 *   from many workgroups); holds X + FFN(X) on exit;
 * - Z (binding "Z"): f32 [N][dim], written: zeros on exit (the next call's Y, so a chain of ffn calls needs
 *   no separate clear; distinct from X and Y).
 * FLOPs = 2 * N * 3 * hidden * dim.
 */
export interface FfnShape {
  N: number;
  dim: number;
  hidden: number;
  eps: number;
}

/** The instance key of an ffn call: the weight type, or "gate|up type.down type" when they differ (Q4_K_M: q4_k.q6_k). */
export const ffnInstanceKey = (up: string, down: string): string => (up === down ? up : `${up}.${down}`);

/** The gate|up and down weight types of an ffn instance key (ffnInstanceKey inverted). */
export function ffnInstanceTypes(key: string): { up: string; down: string } {
  const [up, down] = key.split('.');
  return { up, down: down ?? up };
}

/**
 * attention_o: decode attention with the output projection and its residual add fused (one dispatch):
 *   X[i][m] += sum_{h, d} Wo[m][h*D + d] * O[i][h][d],  O = attention(Q, K, V) as the attention op
 * - Q, K, V (bindings "Q", "K", "V"), scratch, step, counters: exactly as the attention op (AttentionShape,
 *   dynamicPos included); O is never stored;
 * - Wo (binding "Wo"): the output projection, dim rows x heads*D columns, the instance's weight type
 *   (attentionOInstanceKey: "weight type.K/V type", e.g. "q4_0.f16"; q8_0 / q4_0 in kpack's GPU layout,
 *   generator/weight-layout.ts);
 * - X (binding "X"): f32 [queries][dim], the residual stream, read-write: updated in place (no zeroing needed:
 *   the kernels add per-head partial products into it with float atomics, and the sum is linear in O).
 * FLOPs = the attention op's + 2 * queries * dim * heads * D.
 */
export interface AttentionOShape extends AttentionShape {
  /** Rows of Wo (the model width). */
  dim: number;
}

/** The instance key of an attention_o call: "weight type.K/V type" (e.g. "q4_0.f16"). */
export const attentionOInstanceKey = (wo: string, kv: string): string => `${wo}.${kv}`;

/** The Wo weight type and the K/V type of an attention_o instance key (attentionOInstanceKey inverted). */
export function attentionOInstanceTypes(key: string): { wo: string; kv: string } {
  const [wo, kv] = key.split('.');
  return { wo, kv: kv ?? 'f16' };
}

export interface OpShapes {
  matmul: MatmulShape;
  ffn: FfnShape;
  attention: AttentionShape;
  attention_o: AttentionOShape;
  rms_norm: RmsNormShape;
  add_rms_norm: AddRmsNormShape;
  swiglu: SwigluShape;
  add: AddShape;
  embed: EmbedShape;
  rope_kv: RopeKvShape;
  argmax: ArgmaxShape;
  copy: CopyShape;
}
export type OpName = keyof OpShapes;

/**
 * Bytes per element; for the block types the average (block bytes / 32), exact only for whole blocks:
 * prefer weightBytes() for buffer sizes.
 */
export const bytesPerElement: Record<WeightType | KvType, number> = { f32: 4, f16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_k: 144 / 256, q6_k: 210 / 256 };

/**
 * ggml block layouts: `elems` values per block of `bytes` bytes. q8_0: f16 d + 32 int8 q, value = q*d.
 * q4_0: f16 d + 16 bytes; byte j holds element j (low nibble) and element j+16 (high nibble), value = (nibble - 8)*d.
 * q4_k / q6_k: ggml's block_q4_K (256 values, 144 bytes) and block_q6_K (256 values, 210 bytes), layouts in
 * templates/partials/dequant.glsl.hbs and tuner/reference/quant.ts.
 */
export const QUANT_BLOCKS: Record<QuantType, { elems: number; bytes: number }> = {
  q8_0: { elems: 32, bytes: 34 },
  q4_0: { elems: 32, bytes: 18 },
  q4_k: { elems: 256, bytes: 144 },
  q6_k: { elems: 256, bytes: 210 },
};

/** Whether `t` is a block-quantized type. */
export const isQuantType = (t: string): t is QuantType => t in QUANT_BLOCKS;

/**
 * Bytes of `elems` values stored as `type` (for a matrix, elems = rows * cols with cols a multiple of the block).
 * @throws Error when a quantized type gets a count that is not a whole number of blocks.
 */
export function weightBytes(type: WeightType, elems: number): number {
  if (isQuantType(type)) {
    const b = QUANT_BLOCKS[type];
    if (elems % b.elems) throw new Error(`weightBytes: ${elems} ${type} elements are not whole ${b.elems}-element blocks`);
    return (elems / b.elems) * b.bytes;
  }
  return elems * bytesPerElement[type];
}
