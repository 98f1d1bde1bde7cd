/**
 * matmul.coopmat2: GEMM with NV cooperative matrix 2 workgroup-scope matrices for f16 weights
 * (generator/ops.ts matmul contract), template templates/matmul_coopmat2.comp.hbs; the design of
 * ggml-vulkan's mul_mm_cm2.comp: one BM x BN f32 accumulator per workgroup, BM x BK (A) and BK x BN (B)
 * f16 tiles loaded with coopMatLoadTensorNV through 2-D tensor layouts (B through a transposing view),
 * the shared-memory staging, pipelining and subgroup split left to the driver. Devices with
 * VK_NV_cooperative_matrix2 (DeviceLimits.coopmat2) and a compiler with GL_NV_cooperative_matrix2 only.
 *
 * B (f32 activations) is always converted to f16 [N][roundup(K, 8)] in scratch first (PASS 2, shared
 * with matmul.coopmat: templates/partials/coopmat_passes.glsl.hbs); split-K and its reduce pass (PASS 1)
 * and the scratch layout are matmul.coopmat's (coopmatSplit with PRE_B = 1). Interior tiles with whole K
 * steps and K % 8 == 0 load unclamped; edge tiles through clamped layouts (zero fill); D is stored
 * through a clamped layout, so ragged M / N / K are exact.
 * Only f16 weights: block formats and f32 need decode functions, whose buffer_reference parameter needs
 * the bufferDeviceAddress feature the native back-end does not enable (matmul.coopmat serves them).
 *
 * Parameters: WG (invocations; workgroup-scope matrices span the whole workgroup), BM x BN (accumulator
 * tile, at most 128 f32 per invocation, at least 16), BK (K step), SPLIT_WGS (as matmul.coopmat: split K
 * until the grid has this many workgroups; only with BN <= 64), PRE_B (always 1), PASS (set by plan()).
 * Shared memory: none declared (the driver's staging is its own). Push: M, N, K, splits, kChunk (u32).
 */
import type { MatmulShape } from '../ops';
import { type KernelFamily, type Params, PushWriter, ceilDiv } from '../schema';
import { grid1d, limitReject } from './common';
import { coopmatSplit } from './matmul_coopmat';

const PUSH_BYTES = 20;
/** The passes read only WG and PRE_B: the tile parameters are pinned so variants share their pipelines. */
const PASS_PIN = { BM: 64, BN: 32, BK: 32, SPLIT_WGS: 0 };

export const matmulCoopmat2: KernelFamily<MatmulShape> = {
  id: 'matmul.coopmat2',
  op: 'matmul',
  template: 'matmul_coopmat2.comp.hbs',
  instances: [
    {
      key: 'f16',
      defines: { WTYPE: 'f16' },
      requiresCompilerExtensions: ['GL_KHR_cooperative_matrix', 'GL_NV_cooperative_matrix2'],
      requiresDevice: ['coopmat', 'coopmat2', 'shaderFloat16'],
    },
  ],
  params: [
    { name: 'WG', values: [128, 256], specId: 0, doc: 'workgroup size (the workgroup-scope matrices span it)' },
    { name: 'BM', values: [64, 128, 256], specId: 1, doc: 'accumulator rows (m) per workgroup' },
    { name: 'BN', values: [32, 64, 128, 256], specId: 2, doc: 'accumulator columns (n) per workgroup' },
    { name: 'BK', values: [32, 64, 128], specId: 3, doc: 'K step of the A / B tiles' },
    { name: 'SPLIT_WGS', values: [0, 128, 512], specId: 4, doc: 'split K until the grid has this many workgroups (0: never)' },
    { name: 'PRE_B', values: [1], specId: 5, doc: 'B -> f16 pass first (always: tensor loads need f16 B)' },
    { name: 'PASS', values: [0], specId: 6, doc: '0 GEMM, 1 split reduce, 2 B -> f16; plan() sets it per step' },
  ],
  defaults: { WG: 256, BM: 128, BN: 128, BK: 64, SPLIT_WGS: 0, PRE_B: 1, PASS: 0 },
  bindings: [
    { name: 'A', access: 'read' },
    { name: 'B', access: 'read' },
    { name: 'D', access: 'write' },
    { name: 'scratch', access: 'readwrite' },
  ],
  pushConstantBytes: PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** No shared memory declared (workgroup-scope matrices are staged by the driver). */
  sharedMemoryBytes: () => 0,
  reject(p: Params, instance, limits) {
    if (!limits.coopmat2) return 'device has no NV cooperative matrix 2';
    if (p.PRE_B !== 1 || p.PASS !== 0) return 'PRE_B is always 1 and PASS is set by plan()';
    const perInvocation = (p.BM * p.BN) / p.WG;
    if (perInvocation > 128) return 'accumulator over 128 f32 per invocation';
    if (perInvocation < 16) return 'accumulator under 16 f32 per invocation';
    if (p.SPLIT_WGS > 0 && p.BN > 64) return 'split-K only with BN <= 64 (small N)';
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s) => s.M > 0 && s.N > 0 && s.K > 0,
  plan(s, p) {
    const sp = coopmatSplit(s, { ...p, PRE_B: 1 });
    const push = new PushWriter(PUSH_BYTES).u32(s.M).u32(s.N).u32(s.K).u32(sp.splits).u32(sp.kChunk).done();
    const steps: ReturnType<KernelFamily['plan']>['steps'] = [{ specOverrides: { PASS: 2, ...PASS_PIN }, push, groups: grid1d(ceilDiv(s.N * ceilDiv(s.K, 8), p.WG)) }];
    steps.push({ push, groups: [ceilDiv(s.M, p.BM), ceilDiv(s.N, p.BN), sp.splits] });
    if (sp.splits > 1) steps.push({ specOverrides: { PASS: 1, ...PASS_PIN }, push, groups: grid1d(ceilDiv(ceilDiv(s.M * s.N, 4), p.WG)) });
    return { steps, scratchBytes: sp.scratchBytes };
  },
};
