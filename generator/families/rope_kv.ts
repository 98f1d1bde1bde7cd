/**
 * rope_kv (generator/ops.ts RopeKvShape): rotary embedding of Q and K plus the K/V cache write of one
 * layer in one dispatch (replaces a rope per Q and K and a copy per K and V). Instances by cache
 * dtype (generator/ops.ts kvCacheBytes: f32, f16 with the device's f32->f16 rounding, q8_0 and q4_0 with
 * D % 32 == 0). f32 / f16: one invocation per rotated or copied pair, tokens * (heads + 2*kvHeads) * D/2 invocations.
 * q8_0 / q4_0: one per Q pair (tokens * heads * D/2), then one per (token, K or V head, pair of 32-value blocks)
 * (tokens * 2*kvHeads * ceil(D/64)), which quantizes its blocks as ggml does and writes one scale word.
 * Groups folded into x,y.
 * Push (56 bytes): tokens, heads, kvHeads, D, pos0, kvStride, mode (0 adjacent, 1 neox) u32, base f32,
 * qStride, kStride, vStride, qOffset, kOffset, vOffset u32 (elements).
 * DYNAMIC (spec constant set by plan from shape.dynamicPos): the position of token 0 is read from
 * binding "step" (u32 [0]) so a recorded decode step can be replayed at any position.
 */
import { type RopeKvShape, isKvQuantType } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { grid1d, wgOnlyReject, wgParam } from './common';

/** Invocations of a rope_kv dispatch for cache type `kvType` (see the header). */
export function ropeKvInvocations(s: RopeKvShape, kvType: string): number {
  const qPairs = (s.tokens * s.heads * s.D) / 2;
  return isKvQuantType(kvType) ? qPairs + s.tokens * 2 * s.kvHeads * Math.ceil(s.D / 64) : qPairs + s.tokens * s.kvHeads * s.D;
}

export const ropeKv: KernelFamily<RopeKvShape> = {
  id: 'rope_kv',
  op: 'rope_kv',
  template: 'rope_kv.comp.hbs',
  instances: [
    { key: 'f32', defines: { KVTYPE: 'f32' } },
    { key: 'f16', defines: { KVTYPE: 'f16' } },
    { key: 'q8_0', defines: { KVTYPE: 'q8_0' } },
    { key: 'q4_0', defines: { KVTYPE: 'q4_0' } },
  ],
  params: [wgParam(), { name: 'DYNAMIC', values: [0], specId: 1, doc: '1: position from the step buffer; plan() sets it from shape.dynamicPos' }],
  defaults: { WG: 128, DYNAMIC: 0 },
  bindings: [
    { name: 'Qsrc', access: 'read' },
    { name: 'Ksrc', access: 'read' },
    { name: 'Vsrc', access: 'read' },
    { name: 'Q', access: 'write' },
    { name: 'Kcache', access: 'write' },
    { name: 'Vcache', access: 'write' },
    { name: 'step', access: 'read', optional: true },
  ],
  pushConstantBytes: 56,
  workgroupSize: (p) => [p.WG, 1, 1],
  sharedMemoryBytes: () => 0,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s, instance) =>
    s.D % (isKvQuantType(instance.key) ? 32 : 2) === 0 && s.D > 0 && s.tokens > 0 && s.heads > 0 && s.kvHeads > 0 && s.pos0 + s.tokens <= s.kvStride,
  plan: (s, p, instance) => ({
    steps: [
      {
        specOverrides: { DYNAMIC: s.dynamicPos ? 1 : 0 },
        push: new PushWriter(56)
          .u32(s.tokens).u32(s.heads).u32(s.kvHeads).u32(s.D).u32(s.pos0).u32(s.kvStride).u32(s.mode === 'neox' ? 1 : 0).f32(s.base)
          .u32(s.qStride).u32(s.kStride).u32(s.vStride).u32(s.qOffset).u32(s.kOffset).u32(s.vOffset)
          .done(),
        groups: grid1d(ceilDiv(ropeKvInvocations(s, instance.key), p.WG)),
      },
    ],
    scratchBytes: 0,
  }),
};
