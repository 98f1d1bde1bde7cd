/**
 * The anchor figures kpack must beat, as data: every row of ../shared/ANCHORS.md's GEMM/GEMV and
 * flash-attention tables, measured 2026-11-22 on one NVIDIA H200 (driver 580.159.04) with ggml commit
 * d99724f2, `test-backend-ops perf` (its own wall-clock timing around graph compute, >= 1 s per case),
 * once with ggml's Vulkan back-end (coopmat1 + NV coopmat2 shaders) and once with its CUDA back-end
 * (nvcc 13.0, sm_90). Times are microseconds per op; they apply to that device only.
 *
 * Mapping onto kpack's op contracts (generator/ops.ts):
 * - GEMM/GEMV: ggml's A [m rows, k] weights and B f32 [k, n] activations are kpack's matmul A [M][K],
 *   B [N][K], D f32 [N][M] with M = m, K = k, N = n.
 * - Flash attention: nh K/V heads and GQA ratio r give heads = nh * r query heads and kvHeads = nh;
 *   nb query rows sit at the end of a KV cache of kv rows (queries = nb, kvLength = kv, queryPos0 =
 *   kv - nb), causal per row, except the D=72 row which has no mask (causal false).
 */
import type { WeightType } from '../generator/ops';

/** Where the figures come from, for reports. */
export const ANCHOR_SOURCE = 'ANCHORS.md: ggml d99724f2 test-backend-ops perf, 2026-11-22';
/** The device the anchors were measured on. */
export const ANCHOR_DEVICE = 'NVIDIA H200 (driver 580.159.04)';
/**
 * The copy rate ANCHORS.md's floors use, bytes/s (read + write): a CUDA device-to-device copy on the H200
 * (ggml's own Vulkan copy kernel reaches ~2.85 TB/s there).
 */
export const ANCHOR_COPY_BYTES_PER_S = 4.3e12;

/** A GEMM/GEMV row: D[n][m] = sum_k A[m][k] * B[n][k], A of `type`. */
export interface MatmulAnchor {
  op: 'matmul';
  type: WeightType;
  m: number;
  k: number;
  n: number;
  /** ggml Vulkan, us per op. */
  vulkanUs: number;
  /** ggml CUDA, us per op. */
  cudaUs: number;
}

/** K/V types of the attention anchors (ggml FLASH_ATTN_EXT cache types). */
export type AnchorKvType = 'f16' | 'q8_0' | 'q4_0';

/** A flash-attention row (FLASH_ATTN_EXT). */
export interface AttentionAnchor {
  op: 'attention';
  /** Head dim. */
  D: number;
  /** K/V heads. */
  nh: number;
  /** GQA ratio: query heads per K/V head. */
  r: number;
  /** KV length. */
  kv: number;
  /** Query rows. */
  nb: number;
  kvType: AnchorKvType;
  /** Causal mask (query row i sees KV rows <= kv - nb + i); false: every row sees all kv rows. */
  causal: boolean;
  vulkanUs: number;
  cudaUs: number;
}

/** One anchor row. */
export type Anchor = MatmulAnchor | AttentionAnchor;

const mm = (type: WeightType, n: number, vulkanUs: number, cudaUs: number): MatmulAnchor => ({ op: 'matmul', type, m: 4096, k: 14336, n, vulkanUs, cudaUs });
const fa = (D: number, nh: number, r: number, kv: number, nb: number, kvType: AnchorKvType, vulkanUs: number, cudaUs: number, causal = true): AttentionAnchor => ({
  op: 'attention',
  D,
  nh,
  r,
  kv,
  nb,
  kvType,
  causal,
  vulkanUs,
  cudaUs,
});

/** Every ANCHORS.md GEMM/GEMV and flash-attention row, in the document's order. */
export const ANCHORS: readonly Anchor[] = [
  mm('f32', 1, 56.29, 52.69),
  mm('f16', 1, 30.34, 29.77),
  mm('q8_0', 1, 29.04, 22.92),
  mm('q4_0', 1, 14.18, 14.65),
  mm('q4_k', 1, 18.51, 16.42),
  mm('q6_k', 1, 29.09, 28.85),
  mm('f16', 8, 85.78, 38.92),
  mm('q8_0', 8, 65.32, 46.2),
  mm('q4_0', 8, 61.29, 33.27),
  mm('q4_k', 8, 103.4, 67.22),
  mm('f32', 512, 359.39, 198.36),
  mm('f16', 512, 269.95, 134.66),
  mm('q8_0', 512, 457.08, 325.36),
  mm('q4_0', 512, 495.1, 323.44),
  mm('q4_k', 512, 430.21, 356.53),
  mm('q6_k', 512, 614.5, 436.43),
  fa(64, 8, 1, 4096, 1, 'f16', 11.33, 9.11),
  fa(64, 8, 4, 16384, 1, 'f16', 37.33, 18.81),
  fa(128, 8, 1, 4096, 1, 'f16', 13.04, 7.94),
  fa(128, 8, 4, 8192, 1, 'f16', 26.82, 20.82),
  fa(128, 8, 4, 16384, 1, 'f16', 55.34, 34.82),
  fa(64, 8, 8, 7680, 1, 'f16', 21.64, 17.12),
  fa(64, 8, 8, 7680, 4, 'f16', 57.16, 11.43),
  fa(64, 8, 8, 7680, 1, 'q8_0', 33.92, 26.92),
  fa(64, 8, 8, 7680, 512, 'q8_0', 1612.11, 391.69),
  fa(64, 8, 8, 7680, 512, 'q4_0', 1887.42, 390.61),
  fa(256, 2, 16, 20000, 1, 'f16', 53.24, 495.4),
  fa(256, 2, 16, 20000, 512, 'f16', 2629.85, 5539.1),
  fa(256, 2, 16, 10000, 1, 'q8_0', 53.37, 209.81),
  fa(72, 16, 1, 5776, 5776, 'f16', 2033.22, 7368.08, false),
];

/**
 * A row's label, stable across --scale (it names the anchor's own sizes), e.g. "matmul q4_k n=512" or
 * "attn f16 D=64 nh=8 r=4 kv=16384 nb=1" (" nomask" for the unmasked row).
 */
export function anchorLabel(a: Anchor): string {
  if (a.op === 'matmul') return `matmul ${a.type} n=${a.n}`;
  return `attn ${a.kvType} D=${a.D} nh=${a.nh} r=${a.r} kv=${a.kv} nb=${a.nb}${a.causal ? '' : ' nomask'}`;
}

/** The faster of the two anchor columns, us. */
export const bestAnchorUs = (a: Anchor): number => Math.min(a.vulkanUs, a.cudaUs);
