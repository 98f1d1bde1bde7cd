/**
 * matmul.coopmat: GEMM with KHR cooperative matrices (f16 A/B staged in shared memory, f32
 * accumulate), any N (generator/ops.ts matmul contract). The coopmat shape CM x CN x CK must be
 * one of the device's subgroup-scope f16 x f16 -> f32 shapes; WM x WN subgroups per workgroup,
 * workgroup tile BM x BN (multiples of WM*CM, WN*CN), K step BK (multiple of CK).
 * WG must equal WM*WN*subgroupSize. Groups: [ceil(M/BM), ceil(N/BN), 1]. Push: M, N, K (u32).
 * f32 weights are rounded to f16 in shared memory.
 */
import type { MatmulShape } from '../ops';
import { type DeviceLimits, type KernelFamily, type Params, PushWriter, ceilDiv } from '../schema';
import { limitReject } from './common';

/** Whether the device has the subgroup-scope f16 x f16 -> f32 coopmat shape (M, N, K). */
export function hasCoopmatShape(limits: DeviceLimits, M: number, N: number, K: number): boolean {
  return limits.coopmatShapes.some(
    (s) => s.M === M && s.N === N && s.K === K && s.aType === 'f16' && s.bType === 'f16' && s.cType === 'f32' && s.resultType === 'f32' && s.scope === 'subgroup',
  );
}

const ext = ['GL_KHR_cooperative_matrix'];
export const matmulCoopmat: KernelFamily<MatmulShape> = {
  id: 'matmul.coopmat',
  op: 'matmul',
  template: 'matmul_coopmat.comp.hbs',
  instances: [
    { key: 'f16', defines: { WTYPE: 'f16' }, requiresCompilerExtensions: ext, requiresDevice: ['coopmat', 'shaderFloat16'] },
    { key: 'f32', defines: { WTYPE: 'f32' }, requiresCompilerExtensions: ext, requiresDevice: ['coopmat', 'shaderFloat16'] },
  ],
  params: [
    { name: 'WG', values: [64, 128, 256, 512], specId: 0, doc: 'workgroup size = WM*WN*subgroupSize' },
    { name: 'BM', values: [32, 64, 128, 256], specId: 1, doc: 'workgroup tile along m (multiple of WM*CM)' },
    { name: 'BN', values: [16, 32, 64, 128], specId: 2, doc: 'workgroup tile along n (multiple of WN*CN)' },
    { name: 'BK', values: [16, 32, 64], specId: 3, doc: 'K step staged in shared memory (multiple of CK)' },
    { name: 'WM', values: [1, 2, 4], specId: 4, doc: 'subgroups along m' },
    { name: 'WN', values: [1, 2, 4], specId: 5, doc: 'subgroups along n' },
    { name: 'CM', values: [8, 16, 32], specId: 6, doc: 'coopmat rows (device shape M)' },
    { name: 'CN', values: [8, 16, 32], specId: 7, doc: 'coopmat columns (device shape N)' },
    { name: 'CK', values: [8, 16, 32], specId: 8, doc: 'coopmat K (device shape K)' },
    { name: 'SHMEM_PAD', values: [0, 8, 16], specId: 9, doc: 'padding (f16 elements) per shared row; multiple of 8' },
  ],
  defaults: { WG: 128, BM: 64, BN: 64, BK: 32, WM: 2, WN: 2, CM: 16, CN: 16, CK: 16, SHMEM_PAD: 8 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'write' },
  ],
  pushConstantBytes: 12,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** As[BM][BK+PAD] + Bs[BN][BK+PAD] f16, Cs[WM*WN*CM*CN] f32. */
  sharedMemoryBytes: (p: Params) => 2 * (p.BM + p.BN) * (p.BK + p.SHMEM_PAD) + 4 * p.WM * p.WN * p.CM * p.CN,
  reject(p, instance, limits) {
    if (!limits.coopmat) return 'device has no cooperative matrices';
    if (!hasCoopmatShape(limits, p.CM, p.CN, p.CK)) return 'coopmat shape not supported by device';
    if (p.BM % (p.WM * p.CM) || p.BN % (p.WN * p.CN) || p.BK % p.CK) return 'tile not a multiple of coopmat shape';
    if (p.SHMEM_PAD % 8) return 'SHMEM_PAD not a multiple of 8';
    if (p.WG !== p.WM * p.WN * limits.subgroupSize) return 'WG != WM*WN*subgroupSize';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s) => s.M > 0 && s.N > 0 && s.K > 0 && !s.epilogue,
  plan: (s, p) => ({
    steps: [{ push: new PushWriter(12).u32(s.M).u32(s.N).u32(s.K).done(), groups: [ceilDiv(s.M, p.BM), ceilDiv(s.N, p.BN), 1] }],
    scratchBytes: 0,
  }),
};
