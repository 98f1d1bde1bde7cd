/**
 * matmul.vec: GEMV for N <= 8 (generator/ops.ts matmul contract). A row group of KSPLIT invocations
 * shares the K range of RPT consecutive rows (each lane loads a chunk of B once for all RPT rows);
 * WG/KSPLIT row groups, ROWS = (WG/KSPLIT)*RPT rows per workgroup. Reduction over the KSPLIT lanes by
 * subgroup shuffles (KSPLIT <= subgroup size), else (REDUCE 1) subgroupAdd plus the subgroups' partials
 * through shared memory. Groups: ceil(M/ROWS) folded into x,y. Push (16 bytes): M, N, K (u32), eps (f32).
 * Spec constants set per call by plan(): NCOLS = N (so a decode step's GEMV holds one column of
 * accumulators), and the fused decode epilogues of MatmulShape.epilogue: NORM (RMSNorm of B, weight G
 * on binding 3), GLU (swiglu over gate|up row pairs: A has 2M rows) and RESIDUAL (D += result; binding
 * 2 is read-write).
 * Instances f32, f16, and ggml q8_0 / q4_0 (in kpack's GPU layout, generator/weight-layout.ts; dequantized in
 * registers; K % 32 == 0, VEC = quarters of a block per lane step, VEC 4 = a whole block per lane in 128-bit
 * loads, UNROLL blocks per lane per iteration with their loads issued together, BSTAGE 1 = B staged through
 * shared memory per step of KSPLIT blocks, coalesced), and ggml q4_k / q6_k
 * (256-value super-blocks; K % 256 == 0, VEC = 8-value octets per lane step).
 */
import type { MatmulShape } from '../ops';
import { type KernelFamily, type Params, PushWriter, ceilDiv } from '../schema';
import { assertQuantK, dtypeInstances, grid1d, isPow2, kquantInstances, limitReject, quantBlockElems, quantInstances } from './common';

/** Largest N the family handles (NMAX in the template). */
export const VEC_NMAX = 8;

export const matmulVec: KernelFamily<MatmulShape> = {
  id: 'matmul.vec',
  op: 'matmul',
  template: 'matmul_vec.comp.hbs',
  abi: 2,
  fusesEpilogue: true,
  instances: [...dtypeInstances('WTYPE'), ...quantInstances('WTYPE'), ...kquantInstances('WTYPE')],
  params: [
    { name: 'WG', values: [32, 64, 128, 256], specId: 0, doc: 'workgroup size' },
    { name: 'RPT', values: [1, 2, 4, 8], specId: 1, doc: 'rows per row group (B chunks are reused across them)' },
    { name: 'KSPLIT', values: [4, 8, 16, 32, 64, 128, 256], specId: 2, doc: 'invocations sharing the K range of a row group' },
    { name: 'REDUCE', values: [0, 1], specId: 3, doc: '0 = subgroup shuffles, no shared memory (KSPLIT <= subgroup size); 1 = subgroupAdd + shared-memory partials (KSPLIT > subgroup size)' },
    { name: 'VEC', values: [1, 2, 4], specId: 4, doc: 'load width (elements; quarters / octets of a block for quantized A); used when K % VEC == 0' },
    { name: 'NCOLS', values: [VEC_NMAX], specId: 5, doc: 'columns of B (= N); plan() sets it' },
    { name: 'NORM', values: [0], specId: 6, doc: '1: RMSNorm of B fused (epilogue.norm); plan() sets it' },
    { name: 'GLU', values: [0], specId: 7, doc: '1: swiglu over gate|up row pairs (epilogue.glu); plan() sets it' },
    { name: 'RESIDUAL', values: [0], specId: 8, doc: '1: D += result (epilogue.residual); plan() sets it' },
    { name: 'UNROLL', values: [1, 2, 4], specId: 9, doc: 'q8_0 / q4_0 with VEC 4: blocks per lane per loop iteration, their loads issued together (loads in flight)' },
    { name: 'BSTAGE', values: [0, 1], specId: 10, doc: 'q8_0 / q4_0 with VEC 4: 1 = B staged through shared memory per step of KSPLIT blocks (coalesced loads, shared by the row groups; next step\'s quants prefetched)' },
  ],
  defaults: { WG: 64, RPT: 2, KSPLIT: 8, REDUCE: 0, VEC: 4, NCOLS: VEC_NMAX, NORM: 0, GLU: 0, RESIDUAL: 0, UNROLL: 1, BSTAGE: 0 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'readwrite' },
    { name: 'G', access: 'read', optional: true },
  ],
  pushConstantBytes: 16,
  workgroupSize: (p) => [p.WG, 1, 1],
  /**
   * red[NV * WG/8] f32 (REDUCE 1), at the largest NV = (2*RPT + 1) * 8 (N = 8 with GLU and NORM); plus, for
   * BSTAGE 1, bs[(NCOLS + NORM) * KSPLIT * 9] vec4 at NCOLS = 8 with NORM (16 * 9 * 9 * KSPLIT bytes).
   */
  sharedMemoryBytes: (p: Params) => 4 * (((2 * p.RPT + 1) * VEC_NMAX * (p.WG / 8) - 1) * p.REDUCE + 1) + 16 * ((VEC_NMAX + 1) * p.KSPLIT * 9 * (p.BSTAGE ?? 0)),
  reject(p, instance, limits) {
    if (!isPow2(p.WG) || !isPow2(p.KSPLIT)) return 'WG or KSPLIT not a power of two';
    if (p.KSPLIT > p.WG) return 'KSPLIT > WG';
    if (p.UNROLL > 1 && !(p.VEC === 4 && (instance.key === 'q8_0' || instance.key === 'q4_0'))) return 'UNROLL only applies to q8_0 / q4_0 with VEC 4';
    if (p.BSTAGE && !(p.VEC === 4 && (instance.key === 'q8_0' || instance.key === 'q4_0'))) return 'BSTAGE only applies to q8_0 / q4_0 with VEC 4';
    if (p.BSTAGE && p.UNROLL > 1) return 'BSTAGE prefetches one step itself (UNROLL 1)';
    // quant registers per lane: UNROLL * RPT * (GLU + 1) rows of 16 (q4_0) / 32 (q8_0) bytes; keep <= 64 (q4_0) / 128 (q8_0) words
    if (p.UNROLL * p.RPT > 8) return 'UNROLL * RPT > 8 (quant registers)';
    if (p.REDUCE === 0 && p.KSPLIT > limits.subgroupSize) return 'subgroup reduction needs KSPLIT <= subgroup size';
    if (p.REDUCE === 1 && limits.subgroupSize < 8) return 'REDUCE 1 sizes its partials for subgroups of >= 8';
    if (p.REDUCE === 1 && p.KSPLIT <= limits.subgroupSize) return 'REDUCE 1 only adds shared memory when KSPLIT <= subgroup size (same kernel as REDUCE 0)';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => s.M > 0 && s.K > 0 && s.N >= 1 && s.N <= VEC_NMAX && s.K % quantBlockElems(instance) === 0,
  plan(s, p, instance) {
    assertQuantK('matmul.vec', s.K, instance);
    const e = s.epilogue;
    const specOverrides = { NCOLS: s.N, NORM: e?.norm ? 1 : 0, GLU: e?.glu ? 1 : 0, RESIDUAL: e?.residual ? 1 : 0 };
    const rows = (p.WG / p.KSPLIT) * p.RPT;
    return {
      steps: [{ specOverrides, push: new PushWriter(16).u32(s.M).u32(s.N).u32(s.K).f32(e?.norm?.eps ?? 0).done(), groups: grid1d(ceilDiv(s.M, rows)) }],
      scratchBytes: 0,
    };
  },
};
