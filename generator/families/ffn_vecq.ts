/**
 * ffn.vecq: a decode step's feed-forward block (generator/ops.ts FfnShape: RMSNorm, gate|up, swiglu, down and
 * the residual) in one dispatch, for q8_0 / q4_0 weights in kpack's GPU layout (generator/weight-layout.ts) and
 * Q4_K_M's q4_k / q6_k (FFN_INSTANCES), N <= 8 tokens. Workgroup c owns HC = 32 * HB hidden units: it computes their gate and up products as
 * matmul.vecq does (activations to 8 bits per block in shared memory, packed integer dot products), then
 * multiplies h = silu(g) * u (also rounded to 8 bits per block) with the HB blocks of every row of Wd that
 * belong to those units and adds the partial products into Y with float atomics (VK_EXT_shader_atomic_float),
 * workgroup 0 adding the residual X too. The unfused decode step runs this as two GEMV dispatches with a
 * barrier between (~5 us per dependent dispatch on the H200: README, 2026-12-03c); Y must be zero on entry,
 * so each call zeroes Z, the next call's Y (runtime/model/llama.ts rotates three residual buffers).
 *
 * Parameters: WG; RPT row pairs (gate, up) per row group of KSPLIT lanes; UNROLL blocks per lane step in the
 * gate|up loop (UNROLL x 2 RPT <= 16 blocks in flight per lane); HB (32-value blocks of hidden units per workgroup: grid = hidden / (32 * HB), Wd read in
 * HB-block pieces per row); DU down rows per lane per step (their loads issued first); PREFETCH (the first
 * gate|up and down loads issued before the prologue, which does not need them). NCOLS = N and
 * KB = dim / 32 are set by plan().
 * Push constants (16 bytes): N, dim, hidden (u32), eps (f32).
 * Precision: two 8-bit roundings (x' and h), each ~0.4% RMS of its block (matmul_vecq.ts): validated at
 * FFN_TOLERANCE = 3e-2 (relative L2 of FFN(X), the residual excluded, tests/kernels-ffn.test.ts).
 */
import type { FfnShape } from '../ops';
import { type KernelFamily, type Params, PushWriter, type TemplateInstance } from '../schema';
import { grid1d, isPow2, limitReject } from './common';
import { VECQ_B_BYTES, vecqBBytes } from './matmul_vecq';
import { VEC_NMAX } from './matmul_vec';

/**
 * Instances: key, gate|up type, down type. q8_0 / q4_0 in kpack's GPU layout; q4_k (Q4_K_M layers whose down
 * projection is q4_k) and q4_k.q6_k (those with a q6_k down projection) in ggml's layout, dim and hidden
 * multiples of 256, decoded one block at a time (partials/kblock.glsl; PREFETCH does not apply).
 */
export const FFN_INSTANCES: ReadonlyArray<readonly [key: string, up: string, down: string]> = [
  ['q8_0', 'q8_0', 'q8_0'],
  ['q4_0', 'q4_0', 'q4_0'],
  ['q4_k', 'q4_k', 'q4_k'],
  ['q4_k.q6_k', 'q4_k', 'q6_k'],
];

/** Relative L2 tolerance of ffn.vecq's FFN(X) (two 8-bit roundings; module doc). */
export const FFN_TOLERANCE = 3e-2;

/** Whether a shape fits the kernel's layout assumptions (whole blocks, vec4 rows, at most VEC_NMAX tokens). */
const kquant = (instance: TemplateInstance): boolean => instance.defines.KQUANT === true;

const shapeFits = (s: FfnShape): boolean =>
  s.N >= 1 && s.N <= VEC_NMAX && s.dim > 0 && s.dim % 32 === 0 && s.hidden > 0 && s.hidden % 32 === 0 && s.eps >= 0;

export const ffnVecq: KernelFamily<FfnShape> = {
  id: 'ffn.vecq',
  op: 'ffn',
  template: 'ffn_vecq.comp.hbs',
  tolerance: FFN_TOLERANCE,
  instances: FFN_INSTANCES.map(([key, up, down]) => ({
    key,
    defines: { WTYPE: up, DTYPE: down, QUANT: true, ...(up.endsWith('_k') ? { KQUANT: true } : {}) },
    requiresCompilerExtensions: ['GL_EXT_integer_dot_product', 'GL_EXT_shader_atomic_float'],
    requiresDevice: ['integerDotProduct' as const, 'atomicFloatAdd' as const],
  })),
  params: [
    { name: 'WG', values: [128, 256, 512], specId: 0, doc: 'workgroup size (a multiple of 8: quantization uses 8 invocations per block)' },
    { name: 'RPT', values: [1, 2, 4], specId: 1, doc: 'gate/up row pairs per row group' },
    { name: 'KSPLIT', values: [4, 8, 16, 32], specId: 2, doc: 'invocations sharing the K range of a row group (<= subgroup size)' },
    { name: 'UNROLL', values: [1, 2, 4], specId: 3, doc: 'blocks per lane per gate/up loop step, their loads issued together' },
    { name: 'HB', values: [1, 2, 4], specId: 4, doc: '32-value blocks of hidden units per workgroup (grid = hidden / (32 * HB))' },
    { name: 'DU', values: [1, 2, 4], specId: 5, doc: 'down-projection rows per lane per step, loads issued together' },
    { name: 'PREFETCH', values: [0, 1], specId: 8, doc: '1: the first gate|up and down weight loads issued before the prologue (their latency overlaps it)' },
    { name: 'NCOLS', values: [VEC_NMAX], specId: 6, doc: 'tokens (= N); plan() sets it' },
    { name: 'KB', values: [1], specId: 7, doc: 'blocks per row of x (= dim / 32), sizes the shared quantized x; plan() sets it' },
  ],
  defaults: { WG: 256, RPT: 2, KSPLIT: 8, UNROLL: 1, HB: 2, DU: 2, PREFETCH: 0, NCOLS: VEC_NMAX, KB: 1 },
  bindings: [
    { name: 'Wgu', access: 'read' },
    { name: 'X', access: 'read' },
    { name: 'Y', access: 'readwrite' },
    { name: 'G', access: 'read' },
    { name: 'Wd', access: 'read' },
    { name: 'Z', access: 'write' },
  ],
  pushConstantBytes: 16,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** Worst case over supported shapes: quantized x (VECQ_B_BYTES), quantized h, h, per-subgroup sums (f32). */
  sharedMemoryBytes: (p: Params) => VECQ_B_BYTES + 48 * VEC_NMAX * p.HB + 4 * VEC_NMAX * 32 * p.HB + 4 * VEC_NMAX * (p.WG / 8),
  reject(p, instance, limits) {
    if (!isPow2(p.WG) || !isPow2(p.KSPLIT)) return 'WG or KSPLIT not a power of two';
    if (p.KSPLIT > p.WG) return 'KSPLIT > WG';
    if (limits.subgroupSize < 8) return 'quantization needs subgroups of >= 8 invocations';
    if (p.KSPLIT > limits.subgroupSize) return 'the row-group reduction needs KSPLIT <= subgroup size';
    if (p.PREFETCH && kquant(instance)) return 'PREFETCH does not apply to K-quant instances (same kernel as PREFETCH 0)';
    // gate|up loads in flight per lane: UNROLL blocks x 2 * RPT rows (quants + scale each)
    if (p.UNROLL * 2 * p.RPT > 16) return `UNROLL x 2 RPT = ${p.UNROLL * 2 * p.RPT} blocks in flight per lane: too many registers`;
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports: (s, instance) => shapeFits(s) && (!kquant(instance) || (s.dim % 256 === 0 && s.hidden % 256 === 0)),
  /** hidden a multiple of the workgroup's 32 * HB units; all of quantized x in shared memory (N * dim <= 16384). */
  supportsVariant: (s, p) => s.hidden % (32 * p.HB) === 0 && vecqBBytes({ N: s.N, K: s.dim }) <= VECQ_B_BYTES,
  plan(s, p, instance) {
    if (!shapeFits(s)) throw new RangeError(`ffn.vecq: shape ${JSON.stringify(s)} needs 1 <= N <= ${VEC_NMAX} and dim, hidden multiples of 32`);
    if (kquant(instance) && (s.dim % 256 || s.hidden % 256)) throw new RangeError(`ffn.vecq/${instance.key}: dim = ${s.dim} and hidden = ${s.hidden} must be multiples of 256 (K-quant super-blocks)`);
    if (s.hidden % (32 * p.HB)) throw new RangeError(`ffn.vecq: hidden = ${s.hidden} is not a multiple of 32 * HB = ${32 * p.HB}`);
    if (vecqBBytes({ N: s.N, K: s.dim }) > VECQ_B_BYTES) throw new RangeError(`ffn.vecq: N * dim = ${s.N * s.dim} exceeds ${(VECQ_B_BYTES / 48) * 32} (quantized x in shared memory)`);
    const push = new PushWriter(16).u32(s.N).u32(s.dim).u32(s.hidden).f32(s.eps).done();
    return { steps: [{ specOverrides: { NCOLS: s.N, KB: s.dim / 32 }, push, groups: grid1d(s.hidden / (32 * p.HB)) }], scratchBytes: 0 };
  },
};
