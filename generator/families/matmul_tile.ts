/**
 * matmul.tile: shared-memory tiled GEMM for any N (generator/ops.ts matmul contract).
 * Workgroup tile BM x BN of C = A B^T, K step BK, TM x TN register tile per invocation,
 * WG == (BM/TM) * (BN/TN). Groups: [ceil(M/BM), ceil(N/BN), 1]. Push: M, N, K (u32).
 * Instances f32, f16, ggml q8_0 / q4_0 (K % 32 == 0) and the K-quants q4_k / q6_k (256-value
 * super-blocks, K % 256 == 0), dequantized to f32 while staging A in shared memory: BK must be a
 * multiple of 8 (octets of one scale) dividing 32 (all of BK's values divide 256 too); VEC then only
 * applies to B.
 */
import type { MatmulShape } from '../ops';
import { type KernelFamily, type Params, PushWriter, ceilDiv } from '../schema';
import { QBLOCK, assertQuantK, dtypeInstances, isPow2, isQuantInstance, kquantInstances, limitReject, quantBlockElems, quantInstances } from './common';

export const matmulTile: KernelFamily<MatmulShape> = {
  id: 'matmul.tile',
  op: 'matmul',
  template: 'matmul_tile.comp.hbs',
  instances: [...dtypeInstances('WTYPE'), ...quantInstances('WTYPE'), ...kquantInstances('WTYPE')],
  params: [
    { name: 'WG', values: [64, 128, 256, 512], specId: 0, doc: 'workgroup size; must equal (BM/TM)*(BN/TN)' },
    { name: 'BM', values: [16, 32, 64, 128], specId: 1, doc: 'tile rows of A (output m) per workgroup' },
    { name: 'BN', values: [16, 32, 64, 128], specId: 2, doc: 'tile rows of B (output n) per workgroup' },
    { name: 'BK', values: [8, 16, 32], specId: 3, doc: 'K step staged in shared memory' },
    { name: 'TM', values: [1, 2, 4, 8], specId: 4, doc: 'register tile along m per invocation' },
    { name: 'TN', values: [1, 2, 4, 8], specId: 5, doc: 'register tile along n per invocation' },
    { name: 'SHMEM_PAD', values: [0, 1, 4], specId: 6, doc: 'padding (elements) per shared-memory row' },
    { name: 'VEC', values: [1, 2, 4], specId: 7, doc: 'global load width (elements); used when K % VEC == 0' },
    { name: 'SHMEM_RESERVE', values: [0, 8192, 16384], specId: 8, doc: 'extra shared bytes per workgroup (occupancy limiter)' },
  ],
  defaults: { WG: 128, BM: 64, BN: 32, BK: 16, TM: 4, TN: 4, SHMEM_PAD: 1, VEC: 4, SHMEM_RESERVE: 0 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'write' },
  ],
  pushConstantBytes: 12,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** As[BK][BM+PAD] + Bs[BK][BN+PAD] f32, plus reserve[SHMEM_RESERVE/4 + 1] u32. */
  sharedMemoryBytes: (p: Params) => 4 * (p.BK * (p.BM + p.SHMEM_PAD) + p.BK * (p.BN + p.SHMEM_PAD)) + 4 * (Math.floor(p.SHMEM_RESERVE / 4) + 1),
  reject(p, instance, limits) {
    if (p.BM % p.TM || p.BN % p.TN) return 'tile not divisible by register tile';
    if ((p.BM / p.TM) * (p.BN / p.TN) !== p.WG) return 'WG != (BM/TM)*(BN/TN)';
    if (p.BK % p.VEC) return 'BK not a multiple of VEC';
    if (p.SHMEM_RESERVE % 4) return 'SHMEM_RESERVE not a multiple of 4';
    if (!isPow2(p.WG)) return 'WG not a power of two';
    // q8_0/q4_0: BK divides the 32-value block; q4_k/q6_k: 32 divides the 256-value super-block, so the same
    // test keeps each K step inside one (super-)block and made of whole 8-value octets.
    if (isQuantInstance(instance) && (QBLOCK % p.BK || quantBlockElems(instance) % p.BK || p.BK % 8)) return 'quantized: BK must divide the 32-value block and be a multiple of 8';
    // Measured: NVIDIA's driver (580.159.04, H200) did not finish creating the q4_0 pipeline of WG=128 BM=64
    // BN=128 BK=32 TM=8 TN=8 within 200 s (autotune journal, docs/runs/2026-12-02b); 64 accumulators per
    // invocation with in-register dequantization is past what a shader compiler unrolls in reasonable time.
    if (isQuantInstance(instance) && p.TM * p.TN > 32) return 'quantized: TM * TN > 32 (driver pipeline creation takes minutes)';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => s.M > 0 && s.N > 0 && s.K > 0 && s.K % quantBlockElems(instance) === 0 && !s.epilogue,
  plan(s, p, instance) {
    assertQuantK('matmul.tile', s.K, instance);
    return {
      steps: [{ push: new PushWriter(12).u32(s.M).u32(s.N).u32(s.K).done(), groups: [ceilDiv(s.M, p.BM), ceilDiv(s.N, p.BN), 1] }],
      scratchBytes: 0,
    };
  },
};
