/**
 * attention.tile: flash attention for prefill (many query rows), op `attention` (see ../ops.ts).
 *
 * Template templates/attention_tile.comp.hbs. Groups [ceilDiv(rowsPerGroup, BR), heads / hpg, 1]: a
 * workgroup owns BR rows (query row, query head) of one head group (hpg = GQA_PACK ? heads/kvHeads : 1
 * heads sharing one KV head; row ri -> query ri / hpg, head group*hpg + ri % hpg) and walks the visible
 * KV rows in tiles of BC rows. Q (pre-scaled), the K tile, the V tile and the P tile are staged in shared
 * memory as f32 with PAD floats of padding per row. Threads form BR/RPT row groups of TC = WG*RPT/BR
 * threads; a thread owns RPT rows: BC/TC score columns and ceil(D/TC) output dims of each. Row maxima and
 * final row sums are reduced across the TC threads by subgroup shuffles (SG_REDUCE=1) or shared memory.
 * Causal: a workgroup stops at its last row's diagonal, so KV tiles entirely above it are never loaded;
 * entries above the diagonal inside a tile are masked.
 *
 * Head dim D: specialization constant (sizes shared tiles and register arrays), parameter `D` with the
 * single value 128; plan() overrides it with shape.D, so one pipeline per D. reject()/sharedMemoryBytes()
 * read p.D: pass p.D = shape.D to check a variant for a shape. No scratch (scratchBytes 0), but the
 * "scratch" binding exists per the op contract: bind any buffer.
 * Push constants: the 36-byte block of ./attention_vec.ts (splits = 1).
 */
import type { AttentionShape } from '../ops';
import { type DeviceLimits, type KernelFamily, type Params, type TemplateInstance, ceilDiv } from '../schema';
import { ATTENTION_PUSH_BYTES, attentionInstances, attentionPush, attentionShapeError, kvTypeShapeError } from './attention_vec';

const isPow2 = (x: number): boolean => x > 0 && (x & (x - 1)) === 0;

/** Threads per row group of a tile variant. */
export const tileThreadsPerRow = (p: Params): number => (p.WG * p.RPT) / p.BR;

export const attentionTile: KernelFamily<AttentionShape> = {
  id: 'attention.tile',
  op: 'attention',
  template: 'attention_tile.comp.hbs',
  instances: attentionInstances(),
  params: [
    { name: 'WG', values: [32, 64, 128, 256], specId: 0, doc: 'workgroup size' },
    { name: 'BR', values: [8, 16, 32, 64], specId: 1, doc: 'rows (query row, head) per workgroup' },
    { name: 'BC', values: [8, 16, 32, 64], specId: 2, doc: 'KV rows per shared-memory tile' },
    { name: 'RPT', values: [1, 2, 4, 8], specId: 3, doc: 'rows per thread' },
    { name: 'PAD', values: [0, 1, 4], specId: 4, doc: 'floats of padding per shared tile row' },
    { name: 'SG_REDUCE', values: [0, 1], specId: 5, doc: 'row max/sum across TC threads: 0 shared memory, 1 subgroup shuffles' },
    { name: 'GQA_PACK', values: [0, 1], specId: 6, doc: '1: a workgroup covers the query heads sharing one KV head' },
    { name: 'D', values: [128], specId: 7, doc: 'head dim (multiple of 8); plan() overrides it with shape.D' },
  ],
  defaults: { WG: 64, BR: 16, BC: 16, RPT: 2, PAD: 1, SG_REDUCE: 0, GQA_PACK: 1, D: 128 },
  bindings: [
    { name: 'Q', access: 'read' },
    { name: 'K', access: 'read' },
    { name: 'V', access: 'read' },
    { name: 'O', access: 'write' },
    { name: 'scratch', access: 'readwrite' },
  ],
  pushConstantBytes: ATTENTION_PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** Mirrors the template: Qs[BR*(D+PAD)], Ks/Vs[BC*(D+PAD)], Ps[BR*(BC+PAD)], Red[BR*TC], all f32. */
  sharedMemoryBytes(p) {
    const DS = p.D + p.PAD;
    return 4 * (p.BR * DS + 2 * p.BC * DS + p.BR * (p.BC + p.PAD) + p.BR * tileThreadsPerRow(p));
  },
  reject(p: Params, instance: TemplateInstance, limits: DeviceLimits): string | null {
    if (p.WG > limits.maxWorkgroupInvocations || p.WG > limits.maxWorkgroupSizeX) return `WG=${p.WG} exceeds the device workgroup limit`;
    if (p.BR % p.RPT !== 0) return `BR=${p.BR} not a multiple of RPT=${p.RPT}`;
    const TC = tileThreadsPerRow(p);
    if (!Number.isInteger(TC) || TC < 1) return `WG*RPT/BR=${TC} is not a positive integer`;
    if (!isPow2(TC)) return `threads per row TC=${TC} is not a power of two`;
    if (p.BC % TC !== 0) return `BC=${p.BC} not a multiple of TC=${TC}`;
    if (p.SG_REDUCE && TC > limits.subgroupSize) return `SG_REDUCE needs TC=${TC} <= subgroup size ${limits.subgroupSize}`;
    if (p.D % 8 !== 0) return `D=${p.D} not a multiple of 8`;
    const regs = p.RPT * (p.BC / TC + Math.ceil(p.D / TC));
    if (regs > 256) return `scores+acc need ${regs} floats per thread (> 256)`;
    const shm = this.sharedMemoryBytes(p, instance);
    if (shm > limits.maxSharedMemoryBytes) return `shared memory ${shm} > ${limits.maxSharedMemoryBytes}`;
    return null;
  },
  supports(s: AttentionShape, instance: TemplateInstance): boolean {
    return attentionShapeError(s) === null && kvTypeShapeError(instance, s) === null && !s.dynamicPos;
  },
  /** @throws Error if the shape is invalid (see attentionShapeError). */
  plan(s: AttentionShape, p: Params) {
    const err = attentionShapeError(s);
    if (err) throw new Error(`attention.tile: ${err}`);
    const hpg = p.GQA_PACK ? s.heads / s.kvHeads : 1;
    return {
      steps: [{ specOverrides: { D: s.D }, push: attentionPush(s, 1), groups: [ceilDiv(hpg * s.queries, p.BR), s.heads / hpg, 1] }],
      scratchBytes: 0,
    };
  },
};
