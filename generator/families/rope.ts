/**
 * rope (generator/ops.ts), in place on X f32 [tokens][heads][D]; one invocation per rotated pair.
 * Push: tokens, heads, D, pos0 (u32), base (f32), mode (u32: 0 adjacent, 1 neox).
 * Groups: ceil(tokens*heads*D/2 / WG) folded into x,y.
 */
import type { RopeShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

export const rope: KernelFamily<RopeShape> = {
  id: 'rope',
  op: 'rope',
  template: 'rope.comp.hbs',
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [{ name: 'X', access: 'readwrite' }],
  pushConstantBytes: 24,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.D % 2 === 0 && s.D > 0 && s.tokens > 0 && s.heads > 0,
  plan: (s, p) => ({
    steps: [
      {
        push: new PushWriter(24).u32(s.tokens).u32(s.heads).u32(s.D).u32(s.pos0).f32(s.base).u32(s.mode === 'neox' ? 1 : 0).done(),
        groups: grid1d(ceilDiv((s.tokens * s.heads * s.D) / 2, p.WG)),
      },
    ],
    scratchBytes: 0,
  }),
};
