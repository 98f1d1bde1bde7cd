/**
 * matmul.vec: GEMV for N <= 8 (generator/ops.ts matmul contract). KSPLIT invocations per row of A,
 * WG/KSPLIT rows in flight, ROWS rows per workgroup; reduction by subgroup ops (REDUCE 0) or a
 * shared-memory tree (REDUCE 1). Groups: ceil(M/ROWS) folded into x,y. Push (20 bytes): M, N, K,
 * flags (u32: 1 norm, 2 residual, 4 glu), eps (f32).
 * Fuses the decode step's epilogues (MatmulShape.epilogue): RMSNorm of B (weight G on binding 3),
 * swiglu over gate|up row pairs, and the residual add into D (binding 2 is read-write).
 * Instances f32, f16, and ggml q8_0 / q4_0 (dequantized in registers; K % 32 == 0, VEC = quarters of a
 * block per lane step), and ggml q4_k / q6_k (256-value super-blocks; K % 256 == 0, VEC = 8-value octets
 * per lane step).
 */
import type { MatmulShape } from '../ops';
import { type KernelFamily, type Params, PushWriter, ceilDiv } from '../schema';
import { assertQuantK, dtypeInstances, grid1d, isPow2, kquantInstances, limitReject, quantBlockElems, quantInstances } from './common';

/** Epilogue flag bits of the push constants (EPI_* in the template). */
const EPILOGUE_NORM = 1;
const EPILOGUE_RESIDUAL = 2;
const EPILOGUE_GLU = 4;

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
    { name: 'ROWS', values: [1, 2, 4, 8, 16], specId: 1, doc: 'rows of A per workgroup' },
    { name: 'KSPLIT', values: [4, 8, 16, 32, 64, 128, 256], specId: 2, doc: 'invocations cooperating on one row' },
    { name: 'REDUCE', values: [0, 1], specId: 3, doc: '0 = subgroup reduction, 1 = shared-memory tree' },
    { name: 'VEC', values: [1, 2, 4], specId: 4, doc: 'load width (elements); used when K % VEC == 0' },
  ],
  defaults: { WG: 128, ROWS: 4, KSPLIT: 32, REDUCE: 1, VEC: 4 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'readwrite' },
    { name: 'G', access: 'read', optional: true },
  ],
  pushConstantBytes: 20,
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
    const e = s.epilogue;
    const flags = (e?.norm ? EPILOGUE_NORM : 0) | (e?.residual ? EPILOGUE_RESIDUAL : 0) | (e?.glu ? EPILOGUE_GLU : 0);
    return {
      steps: [{ push: new PushWriter(20).u32(s.M).u32(s.N).u32(s.K).u32(flags).f32(e?.norm?.eps ?? 0).done(), groups: grid1d(ceilDiv(s.M, p.ROWS)) }],
      scratchBytes: 0,
    };
  },
};
