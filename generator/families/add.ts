/** add (generator/ops.ts): X += Y, f32 [n]. Push: n u32. Groups: ceil(n/WG) folded into x,y. */
import type { AddShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

export const add: KernelFamily<AddShape> = {
  id: 'add',
  op: 'add',
  template: 'add.comp.hbs',
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'X', access: 'readwrite' },
    { name: 'Y', access: 'read' },
  ],
  pushConstantBytes: 4,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.n > 0,
  plan: (s, p) => ({ steps: [{ push: new PushWriter(4).u32(s.n).done(), groups: grid1d(ceilDiv(s.n, p.WG)) }], scratchBytes: 0 }),
};
