/**
 * argmax (generator/ops.ts): out[0] = smallest index of the largest X[i] (NaNs ignored), one
 * workgroup. Bindings X (f32), out (u32 [1]). Push: n u32. Groups: [1, 1, 1].
 */
import type { ArgmaxShape } from '../ops';
import { type KernelFamily, PushWriter } from '../schema';
import { wgOnlyReject, wgParam } from './common';

export const argmax: KernelFamily<ArgmaxShape> = {
  id: 'argmax',
  op: 'argmax',
  template: 'argmax.comp.hbs',
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam([64, 128, 256, 512, 1024])],
  defaults: { WG: 128 },
  bindings: [
    { name: 'X', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  pushConstantBytes: 4,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** sv[WG] f32 + si[WG] u32. */
  sharedMemoryBytes: (p) => 8 * p.WG,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.n > 0,
  plan: (s) => ({ steps: [{ push: new PushWriter(4).u32(s.n).done(), groups: [1, 1, 1] }], scratchBytes: 0 }),
};
