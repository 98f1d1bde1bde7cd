/**
 * copy (generator/ops.ts): dst = src, `bytes` bytes moved as 16-byte uvec4 loads and stores; VPT uvec4s
 * per invocation, strided by WG. Bindings src, dst. Push: n = bytes / 16 (u32). Groups: ceil(n / (WG*VPT))
 * folded into x,y. Used to measure the device's copy bandwidth (tuner/roofline.ts), not by inference.
 */
import type { CopyShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

/** Bytes one copy-kernel element (a uvec4) moves. */
export const COPY_ELEMENT_BYTES = 16;

export const copy: KernelFamily<CopyShape> = {
  id: 'copy',
  op: 'copy',
  template: 'copy.comp.hbs',
  instances: [{ key: 'u32', defines: {} }],
  params: [wgParam([64, 128, 256, 512]), { name: 'VPT', values: [1, 2, 4, 8], specId: 1, doc: 'uvec4s per invocation, strided by WG' }],
  defaults: { WG: 128, VPT: 4 },
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'dst', access: 'write' },
  ],
  pushConstantBytes: 4,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.bytes > 0 && s.bytes % COPY_ELEMENT_BYTES === 0 && s.bytes / COPY_ELEMENT_BYTES <= 0xffffffff,
  /** @throws Error when the byte count is not a positive multiple of 16 (below 64 GiB). */
  plan(s, p) {
    if (!this.supports(s, this.instances[0])) throw new Error(`copy: ${s.bytes} bytes is not a positive multiple of ${COPY_ELEMENT_BYTES} below 64 GiB`);
    const n = s.bytes / COPY_ELEMENT_BYTES;
    return { steps: [{ push: new PushWriter(4).u32(n).done(), groups: grid1d(ceilDiv(n, p.WG * p.VPT)) }], scratchBytes: 0 };
  },
};
