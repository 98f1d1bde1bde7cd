/**
 * matmul.coopmat: GEMM with KHR cooperative matrices for any N (generator/ops.ts matmul contract),
 * template templates/matmul_coopmat.comp.hbs (+ partials/coopmat_stage.glsl.hbs for the weight formats).
 *
 * Design (CUTLASS-style warp tiling, as in CUTLASS's sm70/sm80 "multistage" GEMMs and ggml-vulkan's
 * mul_mm.comp coopmat path): a workgroup computes a BM x BN tile of C = A B^T (m x n) with WM x WN
 * subgroups; subgroup (wm, wn) owns a warp tile of FM x FN coopmats of CM x CN (FM = BM/(WM*CM),
 * FN = BN/(WN*CN)), f16 x f16 -> f32. Per K step of BK the A tile (weights, dequantized / rounded to f16)
 * and the B tile (activations rounded to f16) are staged in shared memory as rows of BK + SHMEM_PAD
 * halves. Global loads go through registers (128-bit where the format allows) and the next step's loads
 * are issued before the current step's coopMatMulAdds (register double buffering); STAGES = 2 adds a
 * second shared buffer so a step needs one barrier instead of two. Split-K (SPLIT_WGS) and a B -> f16
 * pre-pass (PRE_B) are plan-level options (below). Coopmats wholly inside D are stored with
 * coopMatStore, edge ones through shared memory with bounds checks: ragged M, N and K are exact.
 *
 * Instances: f16 and f32 weights (f32 rounded to f16 in shared memory: this family does not keep f32
 * precision), and ggml q8_0 / q4_0 (K % 32 == 0) and q4_k / q6_k (K % 256 == 0) read in place and
 * dequantized to f16 while staging (never a dequantized copy of the model): q8_0 / q4_0 exactly in f16
 * arithmetic (value = q * d rounded once), q4_k / q6_k in f32 rounded once to f16.
 *
 * Parameters (spec constants; the reject() rules keep every point valid):
 * - WG: invocations, must equal WM*WN*subgroupSize (the template maps gl_SubgroupID to (wm, wn)).
 * - BM, BN: workgroup tile along m (weight rows) and n (activation rows); multiples of WM*CM, WN*CN.
 * - BK: K step, 32 or 64 (a multiple of CK and of the 32-value quant blocks; divides 256).
 * - WM, WN: subgroups along m and n.
 * - CM, CN, CK: the coopmat shape, one of the device's subgroup-scope f16 x f16 -> f32 shapes (M, N, K).
 * - SHMEM_PAD: f16 padding per shared row (multiple of 8 to keep 16-byte aligned rows); 8 makes the
 *   8 rows a 16x16 coopmat load touches fall into distinct banks for BK = 32 and 64.
 * - STAGES: shared-memory buffers (1 or 2).
 * - SPLIT_WGS: split K until the grid has at least this many workgroups (0: never): plan() wants
 *   ceil(SPLIT_WGS / (ceil(M/BM)*ceil(N/BN))) splits, at most MAX_SPLITS and K/BK, and spreads the K steps
 *   evenly so no split is empty (coopmatSplit); every split writes an f32 D-layout slice of scratch and a
 *   second dispatch (PASS 1) sums them into D. A target rather than a count, so one value adapts to every
 *   (M, N) of a bucket. Only with BN <= 64: the small-N regime where the grid cannot fill the GPU.
 * - PRE_B: 1 = a first dispatch (PASS 2) converts B to f16 [N][roundup(K, 8)] in scratch; the GEMM then
 *   reads 2 bytes per activation instead of 4 in each of the ceil(M/BM) workgroup rows and converts none.
 * - PASS: set per dispatch by plan() (0 GEMM, 1 split reduce, 2 B conversion); one value.
 * Space (about 180 points on an H100/H200-like device, 350 on RDNA3-like limits): WG 128 or 256 only; the
 * device's largest coopmat shape only; for each tile and subgroup count only the squarest warp grid (most
 * MMAs per shared-memory load); warp tiles of 1024..(128 * subgroupSize) outputs: at least 4 16x16
 * accumulators of reuse, at most 128 f32 accumulator registers per invocation; BM >= 64 (M >= 512 in LLMs).
 * The passes (PASS 1, 2) read only WG and PRE_B: plan() pins the tile constants of their steps
 * (coopmatPassOverrides) so variants share those pipelines.
 * The f16-accumulator option was considered and left out: on the datacenter parts this targets
 * (H100/H200, MI300) f16-accumulate MMAs run at the f32-accumulate rate, and f16 sums of up to 14336
 * products lose precision and can overflow on real activations.
 *
 * Shared memory (bytes) = 16 * max(STAGES*(BM+BN)*(BK+SHMEM_PAD)/8, WM*WN*CM*CN/4) (the f32 edge
 * staging reuses the stages). Bindings A, B, D, scratch; push constants M, N, K, splits, kChunk (u32).
 * Scratch (f32 words): [f16 copy of B, PRE_B: ceil(N*KP/8)*4 words] then [splits][roundup(N*M, 4)] partials when
 * splits > 1. Groups of PASS 0: [ceil(M/BM), ceil(N/BN), splits].
 */
import type { MatmulShape } from '../ops';
import { type DeviceLimits, type KernelFamily, type ParamSpec, type Params, type TemplateInstance, PushWriter, ceilDiv } from '../schema';
import { assertQuantK, grid1d, limitReject, quantBlockElems } from './common';

/** Whether the device has the subgroup-scope f16 x f16 -> f32 coopmat shape (M, N, K). */
export function hasCoopmatShape(limits: DeviceLimits, M: number, N: number, K: number): boolean {
  return limits.coopmatShapes.some(
    (s) => s.M === M && s.N === N && s.K === K && s.aType === 'f16' && s.bType === 'f16' && s.cType === 'f32' && s.resultType === 'f32' && s.scope === 'subgroup',
  );
}

/** Most K splits a plan uses (each split keeps at least one K step: fewer when K/BK is smaller). */
export const MAX_SPLITS = 32;

/** How a matmul.coopmat variant splits K for a shape: split count, K per split, and scratch layout. */
export interface CoopmatSplit {
  /** Splits actually launched (grid z), each with at least one K step. */
  splits: number;
  /** K range of one split (a multiple of BK). */
  kChunk: number;
  /** Bytes of the f16 copy of B at the start of scratch (0 without PRE_B). */
  bHalfBytes: number;
  /** Total scratch bytes (f16 B copy + split partials). */
  scratchBytes: number;
}

/** The split-K and scratch arithmetic of plan() (mirrored by the template's partialsOffset()). */
export function coopmatSplit(s: MatmulShape, p: Params): CoopmatSplit {
  const tiles = ceilDiv(s.K, p.BK);
  const want = p.SPLIT_WGS > 0 ? ceilDiv(p.SPLIT_WGS, ceilDiv(s.M, p.BM) * ceilDiv(s.N, p.BN)) : 1;
  const per = ceilDiv(tiles, Math.max(1, Math.min(want, MAX_SPLITS, tiles)));
  const splits = ceilDiv(tiles, per);
  const kp = ceilDiv(s.K, 8) * 8;
  const bHalfBytes = p.PRE_B ? ceilDiv(s.N * kp, 8) * 16 : 0;
  return { splits, kChunk: per * p.BK, bHalfBytes, scratchBytes: bHalfBytes + (splits > 1 ? 4 * splits * ceilDiv(s.N * s.M, 4) * 4 : 0) };
}

/** Largest CM*CN among the family's CM/CN values that the device has (with a CK value); 0 if none. */
function largestCoopmatArea(limits: DeviceLimits, params: readonly ParamSpec[]): number {
  const vals = (n: string) => params.find((s) => s.name === n)?.values ?? [];
  let best = 0;
  for (const m of vals('CM')) for (const n of vals('CN')) for (const k of vals('CK')) if (m * n > best && hasCoopmatShape(limits, m, n, k)) best = m * n;
  return best;
}

/**
 * Whether (WM, WN) gives the squarest warp tile (BM/WM) x (BN/WN) among the subgroup grids with WM*WN
 * subgroups that divide the tile into whole coopmats (ties: the taller tile, more rows of A per subgroup).
 * Loads from shared memory per MMA fall as the warp tile gets square, so the others are never faster.
 */
function isSquarestWarpGrid(p: Params): boolean {
  const n = p.WM * p.WN;
  const skew = (wm: number) => Math.abs(Math.log2(p.BM / wm / (p.BN / (n / wm))));
  let best = -1;
  for (let wm = n; wm >= 1; wm /= 2) {
    const wn = n / wm;
    if (p.BM % (wm * p.CM) || p.BN % (wn * p.CN)) continue;
    if (best < 0 || skew(wm) < skew(best) || (skew(wm) === skew(best) && p.BM / wm > p.BM / best)) best = wm;
  }
  return best === p.WM;
}

/**
 * Spec-constant overrides of the extra dispatches (PASS 1 split reduce, PASS 2 B -> f16): they read only
 * WG and PRE_B, so the tile parameters are pinned to one small valid point and every variant with the
 * same WG / PRE_B shares those two pipelines (fewer pipeline compiles while tuning and at load).
 */
export function coopmatPassOverrides(pass: 1 | 2): Params {
  return { PASS: pass, BM: 64, BN: 16, BK: 32, WM: 1, WN: 1, CM: 16, CN: 16, CK: 16, SHMEM_PAD: 8, STAGES: 1, SPLIT_WGS: 0 };
}

const ext = ['GL_KHR_cooperative_matrix'];
const dev: TemplateInstance['requiresDevice'] = ['coopmat', 'shaderFloat16'];
const PUSH_BYTES = 20;

export const matmulCoopmat: KernelFamily<MatmulShape> = {
  id: 'matmul.coopmat',
  op: 'matmul',
  template: 'matmul_coopmat.comp.hbs',
  instances: [
    { key: 'f16', defines: { WTYPE: 'f16' }, requiresCompilerExtensions: ext, requiresDevice: dev },
    { key: 'f32', defines: { WTYPE: 'f32' }, requiresCompilerExtensions: ext, requiresDevice: dev },
    { key: 'q8_0', defines: { WTYPE: 'q8_0', QUANT: true }, requiresCompilerExtensions: ext, requiresDevice: dev, abiDelta: 1 }, // abiDelta 1: kpack's GPU layout (generator/weight-layout.ts)
    { key: 'q4_0', defines: { WTYPE: 'q4_0', QUANT: true }, requiresCompilerExtensions: ext, requiresDevice: dev, abiDelta: 1 },
    { key: 'q4_k', defines: { WTYPE: 'q4_k', QUANT: true, KQUANT: true }, requiresCompilerExtensions: ext, requiresDevice: dev },
    { key: 'q6_k', defines: { WTYPE: 'q6_k', QUANT: true, KQUANT: true }, requiresCompilerExtensions: ext, requiresDevice: dev },
  ],
  params: [
    { name: 'WG', values: [128, 256], specId: 0, doc: 'workgroup size = WM*WN*subgroupSize' },
    { name: 'BM', values: [64, 128, 256], specId: 1, doc: 'workgroup tile along m (multiple of WM*CM)' },
    { name: 'BN', values: [16, 32, 64, 128, 256], specId: 2, doc: 'workgroup tile along n (multiple of WN*CN)' },
    { name: 'BK', values: [32, 64], specId: 3, doc: 'K step staged in shared memory (multiple of CK and 32)' },
    { name: 'WM', values: [1, 2, 4], specId: 4, doc: 'subgroups along m' },
    { name: 'WN', values: [1, 2, 4], specId: 5, doc: 'subgroups along n' },
    { name: 'CM', values: [8, 16], specId: 6, doc: 'coopmat rows (device shape M)' },
    { name: 'CN', values: [8, 16], specId: 7, doc: 'coopmat columns (device shape N)' },
    { name: 'CK', values: [16], specId: 8, doc: 'coopmat K (device shape K)' },
    { name: 'SHMEM_PAD', values: [8], specId: 9, doc: 'padding (f16 elements) per shared row; multiple of 8' },
    { name: 'STAGES', values: [1, 2], specId: 10, doc: 'shared-memory stages (2: one barrier per K step)' },
    { name: 'SPLIT_WGS', values: [0, 128, 512], specId: 11, doc: 'split K until the grid has this many workgroups (0: never); partials + reduce pass' },
    { name: 'PRE_B', values: [0, 1], specId: 12, doc: '1: convert B to f16 in scratch first (PASS 2)' },
    { name: 'PASS', values: [0], specId: 13, doc: '0 GEMM, 1 split reduce, 2 B -> f16; plan() sets it per step' },
  ],
  defaults: { WG: 256, BM: 128, BN: 128, BK: 32, WM: 2, WN: 4, CM: 16, CN: 16, CK: 16, SHMEM_PAD: 8, STAGES: 2, SPLIT_WGS: 0, PRE_B: 0, PASS: 0 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'write' },
    { name: 'scratch', access: 'readwrite' },
  ],
  pushConstantBytes: PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** smem uvec4[max(STAGES*(BM+BN)*(BK+PAD)/8, WM*WN*CM*CN/4)]. */
  sharedMemoryBytes: (p: Params) => 16 * Math.max((p.STAGES * (p.BM + p.BN) * (p.BK + p.SHMEM_PAD)) / 8, (p.WM * p.WN * p.CM * p.CN) / 4),
  reject(p, instance, limits) {
    if (!limits.coopmat) return 'device has no cooperative matrices';
    if (!hasCoopmatShape(limits, p.CM, p.CN, p.CK)) return 'coopmat shape not supported by device';
    if (largestCoopmatArea(limits, this.params) > p.CM * p.CN) return 'device has a larger coopmat shape';
    if (p.WG !== p.WM * p.WN * limits.subgroupSize) return 'WG != WM*WN*subgroupSize';
    if (p.BM % (p.WM * p.CM) || p.BN % (p.WN * p.CN)) return 'tile not a multiple of the subgroup grid of coopmats';
    if (p.BK % p.CK || p.BK % 32 || 256 % p.BK) return 'BK must be a multiple of CK and 32 dividing 256';
    if (p.SHMEM_PAD % 8) return 'SHMEM_PAD not a multiple of 8';
    if (p.CM % 4 || p.CK % 8) return 'coopmat shape not 16-byte aligned (CM % 4, CK % 8)';
    if (p.PASS !== 0) return 'PASS is set by plan()';
    if (p.SPLIT_WGS > 0 && p.BN > 64) return 'split-K only with BN <= 64 (small N)';
    const warpTile = (p.BM / p.WM) * (p.BN / p.WN);
    if (!isSquarestWarpGrid(p)) return 'another WM x WN of the same count gives a squarer warp tile';
    if (warpTile < 1024) return 'warp tile under 1024 outputs';
    if (warpTile > 128 * limits.subgroupSize) return 'warp tile over 128 accumulators per invocation';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => s.M > 0 && s.N > 0 && s.K > 0 && s.K % quantBlockElems(instance) === 0 && !s.epilogue,
  plan(s, p, instance) {
    assertQuantK('matmul.coopmat', s.K, instance);
    const sp = coopmatSplit(s, p);
    const push = new PushWriter(PUSH_BYTES).u32(s.M).u32(s.N).u32(s.K).u32(sp.splits).u32(sp.kChunk).done();
    const steps: ReturnType<KernelFamily['plan']>['steps'] = [];
    if (p.PRE_B) steps.push({ specOverrides: coopmatPassOverrides(2), push, groups: grid1d(ceilDiv(s.N * (ceilDiv(s.K, 8)), p.WG)) });
    steps.push({ push, groups: [ceilDiv(s.M, p.BM), ceilDiv(s.N, p.BN), sp.splits] });
    if (sp.splits > 1) steps.push({ specOverrides: coopmatPassOverrides(1), push, groups: grid1d(ceilDiv(ceilDiv(s.M * s.N, 4), p.WG)) });
    return { steps, scratchBytes: sp.scratchBytes };
  },
};
