/**
 * rms_norm (generator/ops.ts): one workgroup per row, shared-memory tree sum of squares.
 * Bindings X, W, Y (f32). Push: rows u32, cols u32, eps f32. Groups: rows (folded into x,y).
 */
import type { RmsNormShape } from '../ops';
import { type KernelFamily, PushWriter } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

export const rmsNorm: KernelFamily<RmsNormShape> = {
  id: 'rms_norm',
  op: 'rms_norm',
  template: 'rms_norm.comp.hbs',
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'X', access: 'read' },
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
