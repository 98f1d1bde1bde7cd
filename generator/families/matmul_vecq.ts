/**
 * matmul.vecq: GEMV for N <= 8 with q8_0 / q4_0 weights (kpack's GPU layout, generator/weight-layout.ts) or
 * q4_k / q6_k weights (ggml's layout, 256-value super-blocks, K % 256 == 0) and
 * the activations B quantized to 8 bits per 32-value block inside the kernel (ggml's Q8_1: d = max|b| / 127,
 * q = round(b / d)), multiplied with packed 8-bit integer dot products (VK_KHR_shader_integer_dot_product,
 * GL_EXT_integer_dot_product). Every workgroup quantizes all of B into shared memory first, so the main
 * loop reads only the weights from memory; per block and row that is one 128-bit load (q4_0; two for
 * q8_0), 8 dot products and one fma, where matmul.vec spends ~5 float operations per weight on decoding
 * and multiplying.
 *
 * K-quants (instances q4_k, q6_k, define KQUANT): still one 32-value B block per lane step; the block lies in
 * super-block b / 8 of its row. q4_k: one sub-block (6-bit scale sc, min m): dot = d * sc * dB * sum(q * qB)
 * - dmin * m * (dB * sum(qB)); two 128-bit loads of quants (the 32 bytes it shares with its sibling
 * sub-block) and one of the super-block header. q6_k: two 16-value groups with int8 scales: dot = d * dB *
 * (sc0 * sum_{0..15}((q - 32) * qB) + sc1 * sum_{16..31}((q - 32) * qB)), q - 32 packed as int8; q6_k
 * super-blocks are 210 bytes, only 2-byte aligned: the 32 bytes of ql and of qh a block needs come as 9
 * aligned 32-bit words each (funnel-shifted by 16 bits for odd super-blocks), scales and d as 16-bit loads.
 *
 * Where B is quantized (BQ): 0 = by every workgroup into its shared memory (one dispatch; N * K <= 16384,
 * supportsVariant);
 * 1 = once, by a first dispatch (PASS 1, ceil(N * K/32 * 8 / WG) workgroups, 8 invocations per block) into
 * the "scratch" binding, 48 bytes per (column, block) (scratchBytes = 48 * N * K/32), which the GEMV (PASS 0)
 * then reads: as ggml's quantize_q8_1 + mul_mat_vec_q, it trades a dispatch for a GEMV whose workgroups
 * read 1.5 bytes of B per value instead of 4 and start their weight loads without a prologue.
 * PREFETCH 1 (BQ 0 only) keeps the one dispatch and overlaps the prologue instead: the first loop step's
 * weight loads (which do not depend on B) are issued before it, as ffn.vecq's PREFETCH.
 *
 * Row groups, reductions, grid and the fused epilogues (NORM, GLU, RESIDUAL) are matmul.vec's
 * (generator/families/matmul_vec.ts). plan() sets NCOLS = N and, for BQ 0, KB = K / 32 (the shared array of
 * quantized B is sized by it).
 *
 * ROPE (launch contract 2, MatmulEpilogue.rope): rope_kv fused into the decode QKV projection. A row group's
 * rows come in pairs (2i, 2i + 1) of one head (RPT even), so the lane writing the even row rotates the pair
 * (adjacent mode) and writes Q to D ([N][qRows]) or K / V to row pos + n of the caches on bindings 5 / 6
 * (KVF16: f16 pairs packed into 32-bit words); DYNAMIC reads pos from binding 7 ("step", u32 [0]). One
 * dispatch fewer per layer. Contract 1 entries (no ROPE) still run (compatibleAbis), without the fusion.
 * KVQ (launch contract 3): q8_0 / q4_0 caches (generator/ops.ts kvCacheBytes) too. The workgroup's K / V values go to
 * shared memory and one invocation per 64 rows quantizes two blocks of a cache row (templates/partials/kv_quantize,
 * as rope_kv) and writes their scale word, so a workgroup's rows must be whole 64-row groups ((WG/KSPLIT) * RPT % 64
 * == 0, supportsVariant) and the head dim a multiple of 64 (ropeFits). Contract 2 entries fuse f32 / f16 caches only
 * (KernelFamily.quantRopeSince).
 * Push constants (40 bytes): M, N, K (u32), eps (f32), qRows, kvRows, D, pos0, kvStride (u32), base (f32).
 *
 * Precision: 8-bit activations round each B value by up to d/2 = max|b| / 254 of its block, an RMS error of
 * about max|b| / 440: ~0.4% of RMS(b) for uniform data, more after swiglu (the product of two rounded
 * sums: ~1.2% measured at K = 96), so the family validates at VECQ_TOLERANCE = 2e-2, looser than the 2e-3
 * of float paths and within what ggml's own test-backend-ops accepts for these kernels (a normalized MSE
 * of 5e-4, a relative L2 of ~2.2e-2). The tuner weighs it against the float families per shape.
 */
import { type MatmulShape, isKvQuantType } from '../ops';
import { type KernelFamily, type Params, PushWriter, type TemplateInstance, ceilDiv } from '../schema';
import { assertQuantK, grid1d, isPow2, limitReject, quantBlockElems } from './common';
import { VEC_NMAX } from './matmul_vec';

/** Relative L2 tolerance of matmul.vecq (8-bit activations; module doc). */
export const VECQ_TOLERANCE = 2e-2;
/** Bytes of shared memory for quantized B one plan may use: 48 bytes per (column, block), N * K <= 16384. */
export const VECQ_B_BYTES = 24 * 1024;
const BLOCK_BYTES = 48;

/** Shared bytes for quantized B of a shape (48 per column and 32-value block). */
export const vecqBBytes = (s: Pick<MatmulShape, 'N' | 'K'>): number => BLOCK_BYTES * s.N * (s.K / 32);

/** Whether a shape's rope epilogue (if any) fits it: rows [Q | K | V] of whole heads, D even, no glu / residual, positions in the cache. */
function ropeFits(s: MatmulShape): boolean {
  const r = s.epilogue?.rope;
  if (!r) return true;
  // a quantized cache row's scale word covers 64 values of a head: heads of whole 64-row groups
  if (isKvQuantType(r.kvType) && r.D % 64 !== 0) return false;
  return r.D > 0 && r.D % 2 === 0 && r.qRows % r.D === 0 && r.kvRows % r.D === 0 && r.qRows > 0 && r.kvRows > 0 &&
    s.M === r.qRows + 2 * r.kvRows && !s.epilogue?.glu && !s.epilogue?.residual && (r.dynamicPos === true || r.pos0 + s.N <= r.kvStride);
}

export const matmulVecq: KernelFamily<MatmulShape> = {
  id: 'matmul.vecq',
  op: 'matmul',
  template: 'matmul_vecq.comp.hbs',
  abi: 3,
  compatibleAbis: [1, 2],
  fusesEpilogue: true,
  ropeSince: 2,
  quantRopeSince: 3,
  tolerance: VECQ_TOLERANCE,
  instances: ['q8_0', 'q4_0', 'q4_k', 'q6_k'].map((key): TemplateInstance => ({
    key,
    // q4_k / q6_k: ggml's layout, K % 256 == 0 (supports, assertQuantK via quantBlockElems)
    defines: { WTYPE: key, QUANT: true, ...(key.endsWith('_k') ? { KQUANT: true } : {}) },
    requiresCompilerExtensions: ['GL_EXT_integer_dot_product'],
    requiresDevice: ['integerDotProduct' as const],
  })),
  params: [
    { name: 'WG', values: [64, 128, 256], specId: 0, doc: 'workgroup size (a multiple of 8: the prologue quantizes with 8 invocations per block)' },
    { name: 'RPT', values: [1, 2, 4], specId: 1, doc: 'rows per row group (the quantized B is reused across them from registers)' },
    { name: 'KSPLIT', values: [8, 16, 32, 64, 128], specId: 2, doc: 'invocations sharing the K range of a row group (one block per lane step)' },
    { name: 'REDUCE', values: [0, 1], specId: 3, doc: '0 = subgroup shuffles (KSPLIT <= subgroup size); 1 = subgroupAdd + shared-memory partials (KSPLIT > subgroup size)' },
    { name: 'UNROLL', values: [1, 2, 4], specId: 4, doc: 'blocks per lane per loop iteration, their loads issued together' },
    { name: 'NCOLS', values: [VEC_NMAX], specId: 5, doc: 'columns of B (= N); plan() sets it' },
    { name: 'NORM', values: [0], specId: 6, doc: '1: RMSNorm of B fused (epilogue.norm); plan() sets it' },
    { name: 'GLU', values: [0], specId: 7, doc: '1: swiglu over gate|up row pairs (epilogue.glu); plan() sets it' },
    { name: 'RESIDUAL', values: [0], specId: 8, doc: '1: D += result (epilogue.residual); plan() sets it' },
    { name: 'KB', values: [1], specId: 9, doc: 'blocks per row (= K / 32), sizes the shared quantized B (BQ 0); plan() sets it' },
    { name: 'BQ', values: [0, 1], specId: 10, doc: 'where B is quantized: 0 = per workgroup into shared memory, 1 = once, by a first dispatch, into scratch' },
    { name: 'PASS', values: [0], specId: 11, doc: '0 = the GEMV, 1 = the quantization dispatch of BQ 1; plan() sets it per step' },
    { name: 'ROPE', values: [0], specId: 12, doc: '1: rope and the K/V cache write fused (epilogue.rope); plan() sets it' },
    { name: 'KVF16', values: [0], specId: 13, doc: '1: f16 K/V caches (epilogue.rope.kvType); plan() sets it' },
    { name: 'PREFETCH', values: [0, 1], specId: 15, doc: 'BQ 0: 1 = the first loop step\'s weight loads issued before the B prologue (their latency overlaps it)' },
    { name: 'DYNAMIC', values: [0], specId: 14, doc: '1: the rope position from the step buffer (epilogue.rope.dynamicPos); plan() sets it' },
    { name: 'KVQ', values: [0], specId: 16, doc: '1 / 2: q8_0 / q4_0 K/V caches (epilogue.rope.kvType), quantized through shared memory; plan() sets it' },
  ],
  defaults: { WG: 128, RPT: 2, KSPLIT: 8, REDUCE: 0, UNROLL: 1, NCOLS: VEC_NMAX, NORM: 0, GLU: 0, RESIDUAL: 0, KB: 1, BQ: 0, PASS: 0, ROPE: 0, KVF16: 0, DYNAMIC: 0, PREFETCH: 0, KVQ: 0 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'readwrite' },
    { name: 'G', access: 'read', optional: true },
    { name: 'scratch', access: 'readwrite' },
    { name: 'Kcache', access: 'write', optional: true },
    { name: 'Vcache', access: 'write', optional: true },
    { name: 'step', access: 'read', optional: true },
  ],
  pushConstantBytes: 40,
  workgroupSize: (p) => [p.WG, 1, 1],
  /**
   * Worst case over the shapes supports() admits: quantized B (VECQ_B_BYTES; 16 for BQ 1), red[NV * WG/8] f32
   * for REDUCE 1 at NV = (2 * RPT + BQ) * 8 (N = 8 with GLU and NORM), sqp[8 * WG/8] f32 (NORM), kvq[8 * rows] f32
   * (KVQ, rows = WG/KSPLIT * RPT).
   */
  sharedMemoryBytes: (p: Params) =>
    (p.BQ ? 16 : VECQ_B_BYTES) + 4 * (((2 * p.RPT + p.BQ) * VEC_NMAX * (p.WG / 8) - 1) * p.REDUCE + 1) + 4 * VEC_NMAX * (p.WG / 8) +
    4 * VEC_NMAX * (p.WG / p.KSPLIT) * p.RPT,
  reject(p, instance, limits) {
    if (!isPow2(p.WG) || !isPow2(p.KSPLIT)) return 'WG or KSPLIT not a power of two';
    if (p.KSPLIT > p.WG) return 'KSPLIT > WG';
    if (p.PREFETCH === 1 && p.BQ === 1) return 'PREFETCH with BQ 1: no prologue to overlap';
    // loads in flight per lane: UNROLL blocks x RPT rows, each 5 (q4_0: quants + scale) to ~13 (q6_k) registers
    if (p.UNROLL * p.RPT > 8) return `UNROLL x RPT = ${p.UNROLL * p.RPT} blocks in flight per lane: too many registers`;
    if (limits.subgroupSize < 8) return 'the prologue needs subgroups of >= 8 invocations';
    if (p.REDUCE === 0 && p.KSPLIT > limits.subgroupSize) return 'subgroup reduction needs KSPLIT <= subgroup size';
    if (p.REDUCE === 1 && p.KSPLIT <= limits.subgroupSize) return 'REDUCE 1 only adds shared memory when KSPLIT <= subgroup size (same kernel as REDUCE 0)';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => s.M > 0 && s.K > 0 && s.K % quantBlockElems(instance) === 0 && s.N >= 1 && s.N <= VEC_NMAX && ropeFits(s),
  /**
   * BQ 0 keeps all of quantized B in shared memory: N * K <= 16384; BQ 1 any N * K. The rope epilogue needs RPT even,
   * and with a quantized cache whole 64-row groups per workgroup.
   */
  supportsVariant: (s, p) =>
    (p.BQ === 1 || vecqBBytes(s) <= VECQ_B_BYTES) && (!s.epilogue?.rope || p.RPT % 2 === 0) &&
    (!s.epilogue?.rope || !isKvQuantType(s.epilogue.rope.kvType) || ((p.WG / p.KSPLIT) * p.RPT) % 64 === 0),
  plan(s, p, instance) {
    assertQuantK('matmul.vecq', s.K, instance);
    if (!p.BQ && vecqBBytes(s) > VECQ_B_BYTES) throw new RangeError(`matmul.vecq: N * K = ${s.N * s.K} needs ${vecqBBytes(s)} bytes of shared memory for quantized B; at most ${VECQ_B_BYTES} (N * K <= ${(VECQ_B_BYTES / BLOCK_BYTES) * 32})`);
    const e = s.epilogue;
    const r = e?.rope;
    if (r && !ropeFits(s)) throw new RangeError(`matmul.vecq: rope epilogue ${JSON.stringify(r)} does not fit M = ${s.M}, N = ${s.N} (M = qRows + 2 * kvRows, D even, no glu / residual)`);
    if (r && p.RPT % 2 !== 0) throw new RangeError(`matmul.vecq: the rope epilogue needs an even RPT (rows in pairs); RPT = ${p.RPT}`);
    const specOverrides = {
      NCOLS: s.N, KB: p.BQ ? 1 : s.K / 32, NORM: e?.norm ? 1 : 0, GLU: e?.glu ? 1 : 0, RESIDUAL: e?.residual ? 1 : 0,
      ROPE: r ? 1 : 0, KVF16: r?.kvType === 'f16' ? 1 : 0, DYNAMIC: r?.dynamicPos ? 1 : 0, KVQ: r?.kvType === 'q8_0' ? 1 : r?.kvType === 'q4_0' ? 2 : 0,
    };
    const rows = (p.WG / p.KSPLIT) * p.RPT;
    const push = new PushWriter(40).u32(s.M).u32(s.N).u32(s.K).f32(e?.norm?.eps ?? 0)
      .u32(r?.qRows ?? 0).u32(r?.kvRows ?? 0).u32(r?.D ?? 0).u32(r?.pos0 ?? 0).u32(r?.kvStride ?? 0).f32(r?.base ?? 0).done();
    const gemv = { specOverrides: { ...specOverrides, PASS: 0 }, push, groups: grid1d(ceilDiv(s.M, rows)) };
    if (!p.BQ) return { steps: [gemv], scratchBytes: 0 };
    const quantize = { specOverrides: { ...specOverrides, PASS: 1 }, push, groups: grid1d(ceilDiv(s.N * (s.K / 32) * 8, p.WG)) };
    return { steps: [quantize, gemv], scratchBytes: vecqBBytes(s) };
  },
};
