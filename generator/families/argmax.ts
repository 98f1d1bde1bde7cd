/**
 * argmax (generator/ops.ts): out[0] = smallest index of the largest X[i] (NaNs ignored), in two passes:
 * PASS 0 over groups = min(ceil(n / (WG*ITEMS)), 1024) workgroups, each scanning a chunk of
 * ceil(n / groups) elements and writing its best (value bits, index) pair to scratch; PASS 1 (one
 * workgroup) reduces the pairs. One workgroup only (groups == 1, no scratch) when n <= WG*ITEMS.
 * Launch contract 3 (abi): the counters binding and MERGE; packs' argmax entries of contract 2 are stale, so
 * the build's default entry (MERGE 1) serves. MERGE 1 (the default): no PASS 1 dispatch; the last first-pass workgroup to finish (a zeroed counter,
 * plan().counterWords = 1, left zero) reduces the pairs: one dependent dispatch fewer per decode step.
 * Defaults WG 128, ITEMS 2 (n = 128256: 501 workgroups of one or two loads per invocation): among the 60 points of
 * docs/runs/2026-12-07d/argmax-sweep.js on an H100 (tuner protocol), 8.90 us, the fastest within the portable
 * 128-invocation workgroup (WG 256 ITEMS 2: 8.54 us; WG 128 ITEMS 16, the previous default: 10.40 us). The scan
 * is bound by load latency, not bandwidth (0.5 MB), so more workgroups with fewer serial loads each win.
 * argmax is not a tuner workload: the default serves every pack.
 * Bindings X (f32), out (u32 [1]), scratch (u32 [2*groups]), counters (u32 [1], MERGE 1). Push: n, groups, chunk (u32).
 */
import type { ArgmaxShape } from '../ops';
import { type KernelFamily, PushWriter, ceilDiv } from '../schema';
import { wgOnlyReject, wgParam } from './common';

/** Most first-pass workgroups. */
const MAX_GROUPS = 1024;

export const argmax: KernelFamily<ArgmaxShape> = {
  id: 'argmax',
  op: 'argmax',
  template: 'argmax.comp.hbs',
  abi: 3,
  instances: [{ key: 'f32', defines: {} }],
  params: [
    wgParam([64, 128, 256, 512, 1024]),
    { name: 'ITEMS', values: [1, 2, 4, 8, 16, 32], specId: 1, doc: 'elements per invocation in the first pass (sets the workgroup count)' },
    { name: 'PASS', values: [0], specId: 2, doc: '0 scan, 1 reduce of the partials; plan() sets it per step' },
    { name: 'MERGE', values: [0, 1], specId: 3, doc: 'groups > 1: 0 = a reduce dispatch (PASS 1); 1 = the last first-pass workgroup reduces (counters)' },
  ],
  defaults: { WG: 128, ITEMS: 2, PASS: 0, MERGE: 1 },
  bindings: [
    { name: 'X', access: 'read' },
    { name: 'out', access: 'write' },
    { name: 'scratch', access: 'readwrite', optional: true },
    { name: 'counters', access: 'readwrite', optional: true },
  ],
  pushConstantBytes: 12,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** sv[WG] f32 + si[WG] u32. */
  sharedMemoryBytes: (p) => 8 * p.WG,
  reject(p, i, limits) {
    return wgOnlyReject(p, this.sharedMemoryBytes(p, i), limits);
  },
  supports: (s) => s.n > 0,
  plan: (s, p) => {
    const groups = Math.min(MAX_GROUPS, Math.max(1, ceilDiv(s.n, p.WG * p.ITEMS)));
    const push = new PushWriter(12).u32(s.n).u32(groups).u32(ceilDiv(s.n, groups)).done();
    const steps = [{ specOverrides: { PASS: 0 }, push, groups: [groups, 1, 1] as [number, number, number] }];
    const merged = groups > 1 && p.MERGE === 1;
    if (groups > 1 && !merged) steps.push({ specOverrides: { PASS: 1 }, push, groups: [1, 1, 1] });
    const scratchBytes = groups > 1 ? 8 * groups : 0;
    return merged ? { steps, scratchBytes, counterWords: 1 } : { steps, scratchBytes };
  },
};
