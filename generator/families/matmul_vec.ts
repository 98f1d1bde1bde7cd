/**
 * matmul.vec: GEMV for N <= 8 (generator/ops.ts matmul contract). KSPLIT invocations per row of A,
 * WG/KSPLIT rows in flight, ROWS rows per workgroup; reduction by subgroup ops (REDUCE 0) or a
 * shared-memory tree (REDUCE 1). Groups: ceil(M/ROWS) folded into x,y. Push: M, N, K (u32).
 * Instances f32, f16, and ggml q8_0 / q4_0 (dequantized in registers; K % 32 == 0, VEC = quarters of a
 * block per lane step), and ggml q4_k / q6_k (256-value super-blocks; K % 256 == 0, VEC = 8-value octets
 * per lane step).
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
  instances: [...dtypeInstances('WTYPE'), ...quantInstances('WTYPE'), ...kquantInstances('WTYPE')],
  params: [
    { name: 'WG', values: [32, 64, 128, 256], specId: 0, doc: 'workgroup size' },
    { name: 'ROWS', values: [1, 2, 4, 8, 16], specId: 1, doc: 'rows of A per workgroup' },
    { name: 'KSPLIT', values: [4, 8, 16, 32, 64, 128, 256], specId: 2, doc: 'invocations cooperating on one row' },
    { name: 'REDUCE', values: [0, 1], specId: 3, doc: '0 = subgroup reduction, 1 = shared-memory tree' },
    { name: 'VEC', values: [1, 2, 4], specId: 4, doc: 'load width (elements); used when K % VEC == 0' },
  ],
  defaults: { WG: 128, ROWS: 4, KSPLIT: 32, REDUCE: 1, VEC: 4 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'write' },
  ],
  pushConstantBytes: 12,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** red[(WG*8 - 1)*REDUCE + 1] f32. */
  sharedMemoryBytes: (p: Params) => 4 * ((p.WG * VEC_NMAX - 1) * p.REDUCE + 1),
  reject(p, instance, limits) {
    if (!isPow2(p.WG) || !isPow2(p.KSPLIT)) return 'WG or KSPLIT not a power of two';
    if (p.KSPLIT > p.WG) return 'KSPLIT > WG';
    if (p.ROWS % (p.WG / p.KSPLIT)) return 'ROWS not a multiple of WG/KSPLIT';
    if (p.REDUCE === 0 && p.KSPLIT > limits.subgroupSize) return 'subgroup reduction needs KSPLIT <= subgroup size';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => s.M > 0 && s.K > 0 && s.N >= 1 && s.N <= VEC_NMAX && s.K % quantBlockElems(instance) === 0,
  plan(s, p, instance) {
    assertQuantK('matmul.vec', s.K, instance);
    return {
      steps: [{ push: new PushWriter(12).u32(s.M).u32(s.N).u32(s.K).done(), groups: grid1d(ceilDiv(s.M, p.ROWS)) }],
      scratchBytes: 0,
    };
  },
};
