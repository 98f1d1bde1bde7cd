/**
 * embed (generator/ops.ts): Y[t][c] = table[ids[t]][c]; instances by table dtype (f32, f16, and ggml
 * q8_0 / q4_0 / q4_k / q6_k, whose looked-up element is dequantized in the kernel via the dequant partial;
 * dim % 32 == 0, % 256 for q4_k / q6_k: supports() false otherwise, plan() throws).
 * Bindings table, ids (u32), Y (f32). Push: tokens, dim (u32). Groups: ceil(tokens*dim/WG) folded into x,y.
 */
import type { EmbedShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { assertQuantK, dtypeInstances, grid1d, quantBlockElems, wgOnlyReject, wgParam } from './common';

export const embed: KernelFamily<EmbedShape> = {
  id: 'embed',
  op: 'embed',
  template: 'embed.comp.hbs',
  instances: [
    ...dtypeInstances('TTYPE'),
    // the dequant partial is keyed by WTYPE (as in the matmul templates)
    { key: 'q8_0', defines: { TTYPE: 'q8_0', WTYPE: 'q8_0', QUANT: true }, abiDelta: 1 }, // abiDelta 1: kpack's GPU layout (generator/weight-layout.ts)
    { key: 'q4_0', defines: { TTYPE: 'q4_0', WTYPE: 'q4_0', QUANT: true }, abiDelta: 1 },
    { key: 'q4_k', defines: { TTYPE: 'q4_k', WTYPE: 'q4_k', QUANT: true, KQUANT: true } },
    { key: 'q6_k', defines: { TTYPE: 'q6_k', WTYPE: 'q6_k', QUANT: true, KQUANT: true } },
  ],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'table', access: 'read' },
    { name: 'ids', access: 'read' },
    { name: 'Y', access: 'write' },
  ],
  pushConstantBytes: 8,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s, instance) => s.tokens > 0 && s.dim > 0 && s.dim % quantBlockElems(instance) === 0,
  plan: (s, p, instance) => {
    assertQuantK('embed', s.dim, instance);
    return { steps: [{ push: new PushWriter(8).u32(s.tokens).u32(s.dim).done(), groups: grid1d(ceilDiv(s.tokens * s.dim, p.WG)) }], scratchBytes: 0 };
  },
};
