/**
 * add_rms_norm (generator/ops.ts AddRmsNormShape): a residual add and the RMSNorm that reads its result, in one
 * dispatch (X += R, Y = rmsnorm(X) * W), for prompt chunks whose GEMMs do not fuse the residual: the add's
 * extra read and write of X and one dependent dispatch per pair are saved. One workgroup per row, shared-memory
 * tree sum of squares (as rms_norm). Bindings X (read-write), R, W, Y (f32). Push: rows u32, cols u32, eps f32.
 * Groups: rows (folded into x,y).
 */
import type { AddRmsNormShape } from '../ops';
import { type KernelFamily, PushWriter } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

export const addRmsNorm: KernelFamily<AddRmsNormShape> = {
  id: 'add_rms_norm',
  op: 'add_rms_norm',
  template: 'add_rms_norm.comp.hbs',
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'X', access: 'readwrite' },
    { name: 'R', access: 'read' },
    { name: 'W', access: 'read' },
    { name: 'Y', access: 'write' },
  ],
  pushConstantBytes: 12,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** red[WG] f32. */
  sharedMemoryBytes: (p) => 4 * p.WG,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.rows > 0 && s.cols > 0,
  plan: (s) => ({ steps: [{ push: new PushWriter(12).u32(s.rows).u32(s.cols).f32(s.eps).done(), groups: grid1d(s.rows) }], scratchBytes: 0 }),
};
