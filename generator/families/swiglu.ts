/**
 * swiglu (generator/ops.ts SwigluShape): Y[r][i] = silu(g) * u, gate and up values read with row
 * strides and offsets (one fused gate|up product or two separate ones). Y f32 [rows][width].
 * Push (24 bytes): rows, width, gStride, uStride, gOffset, uOffset (u32, elements).
 * Groups: ceil(rows*width/WG) folded into x,y.
 */
import type { SwigluShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

export const swiglu: KernelFamily<SwigluShape> = {
  id: 'swiglu',
  op: 'swiglu',
  template: 'swiglu.comp.hbs',
  abi: 2,
  instances: [{ key: 'f32', defines: {} }],
  params: [wgParam()],
  defaults: { WG: 128 },
  bindings: [
    { name: 'G', access: 'read' },
    { name: 'U', access: 'read' },
    { name: 'Y', access: 'write' },
  ],
  pushConstantBytes: 24,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.rows > 0 && s.width > 0 && s.gStride >= s.width && s.uStride >= s.width,
  plan: (s, p) => ({
    steps: [
      {
        push: new PushWriter(24).u32(s.rows).u32(s.width).u32(s.gStride).u32(s.uStride).u32(s.gOffset).u32(s.uOffset).done(),
        groups: grid1d(ceilDiv(s.rows * s.width, p.WG)),
      },
    ],
    scratchBytes: 0,
  }),
};
