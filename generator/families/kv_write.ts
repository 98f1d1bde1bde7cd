/**
 * kv_write (generator/ops.ts): cache[h][pos0+t][d] = src[t][h][d]; instances by cache dtype (f32, f16;
 * f16 conversion uses the device's f32->f16 rounding). Bindings src (f32), cache.
 * Push: tokens, kvHeads, D, pos0, kvStride (u32). Groups: ceil(tokens*kvHeads*D/WG) folded into x,y.
 */
import type { KvWriteShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { dtypeInstances, grid1d, wgOnlyReject, wgParam } from './common';

export const kvWrite: KernelFamily<KvWriteShape> = {
  id: 'kv_write',
  op: 'kv_write',
  template: 'kv_write.comp.hbs',
  instances: dtypeInstances('KVTYPE'),
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'cache', access: 'write' },
  ],
  pushConstantBytes: 20,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.tokens > 0 && s.pos0 + s.tokens <= s.kvStride,
  plan: (s, p) => ({
    steps: [
      {
        push: new PushWriter(20).u32(s.tokens).u32(s.kvHeads).u32(s.D).u32(s.pos0).u32(s.kvStride).done(),
        groups: grid1d(ceilDiv(s.tokens * s.kvHeads * s.D, p.WG)),
      },
    ],
    scratchBytes: 0,
  }),
};
