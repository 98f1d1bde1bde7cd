/**
 * attention.coopmat: flash attention for prefill with KHR cooperative matrices (FlashAttention-2 style),
 * op `attention` (see ../ops.ts), same bindings and 36-byte push block as attention.tile, so a pack can
 * route any prefill bucket to it. Template templates/attention_coopmat.comp.hbs.
 *
 * Work: groups [ceilDiv(rowsPerGroup, BR), heads / hpg, 1]. A workgroup owns BR rows (query row, query
 * head) of one head group (hpg = GQA_PACK ? heads/kvHeads : 1 heads sharing one KV head; row ri -> query
 * ri / hpg, head group*hpg + ri % hpg, as attention.tile), so with GQA_PACK a K/V tile serves all r heads.
 * - Q (times scale*log2 e) is converted to f16 once into shared memory; with Q_REG=1 each subgroup then
 *   keeps its Q rows as coopmat A fragments in registers (Q staged through the K/V tile area, no Qs array).
 * - The visible KV rows are walked in tiles of BC rows: K and V tiles are copied to shared memory as f16
 *   with 128-bit loads (rows >= the workgroup's last visible row are zero-filled, so NaNs past kvLength
 *   never enter a product).
 * - S = Q K^T with 16x16x16 f16 -> f32 coopmats. RS x CS subgroups (WG == RS*CS*subgroupSize): subgroup
 *   (rs, cs) owns BR/RS rows of S and O (SRB = BR/16/RS row blocks), BC/CS columns of S and every CS-th
 *   slice of ceil(DP/16/CS) 16-wide column blocks of O (DP = D rounded up to 16). S goes to shared (f32).
 * - Online softmax by the threads (log2 domain, exp2): TPR = WG/BR threads per row (RPT = BR/WG rows per
 *   thread when BR > WG), row max/sum across a row's threads by subgroup shuffles. P is rounded to f16 into
 *   shared memory and the row sum l accumulates the rounded values, so normalisation matches the product.
 * - O stays in f32 coopmat accumulators in registers for the whole KV walk. The per-row correction
 *   exp2(m_old - m_new) is written into the first 16 columns of each S row (every column of a row holds
 *   the row's factor) and loaded as a 16x16 accumulator, so `O *= C` (component-wise coopmat multiply,
 *   GL_KHR_cooperative_matrix) rescales every row; then O += P V (V tile B fragments, row-major).
 * - End: O is staged per subgroup through shared memory (16x16 f32), scaled by 1/l and written with the
 *   (query, head) row mapping (rows of one head group are not uniformly strided under GQA_PACK).
 * Synchronisation per KV tile: barrier, K/V load, barrier, S, sync, softmax, sync, PV. The two middle
 * syncs are subgroup barriers when CS == 1 (a subgroup owns whole rows of S and the softmax threads of
 * those rows are its own lanes), workgroup barriers otherwise.
 *
 * Causal: a workgroup stops at its last row's diagonal (KV tiles above it are never loaded), masks inside
 * the tile per row, and skips S/PV blocks past the last visible column of the final tile. Ragged queries
 * and kvLength are exact. Head dim: D is a specialization constant, parameter `D` with the single value
 * 128 that plan() overrides with shape.D (one pipeline per D, as attention.tile); any D % 8 == 0 works,
 * D % 16 != 0 (e.g. 72) is zero-padded to DP in shared memory. reject()/sharedMemoryBytes() read p.D:
 * pass p.D = shape.D to check a variant for a shape (the tuner pins it).
 *
 * Instance: K/V f16 only (read as uvec4 words, no 16-bit storage feature). An f32 cache would be rounded
 * to f16 for the products and could not meet the f32 validation tolerance; attention.tile serves it.
 * O accumulates in f32: f16 accumulation (no faster on H100/H200 tensor cores) would overflow/lose
 * precision over long KV walks because P is unnormalised until the end.
 * Needs: device coopmat with the subgroup-scope f16 16x16x16 -> f32 shape, shaderFloat16, subgroup
 * shuffles, and gl_SubgroupSize == limits.subgroupSize (the WG == RS*CS*subgroupSize rule relies on it).
 * supports(): valid shapes with queries >= 16 (the prefill regime it is tuned for); plan() is exact for
 * any valid shape, so a pack falling back across batch ranges stays correct.
 * No scratch (scratchBytes 0); the "scratch" binding exists per the op contract: bind any buffer.
 */
import type { AttentionShape } from '../ops';
import { type DeviceLimits, type KernelFamily, type Params, type TemplateInstance, ceilDiv } from '../schema';
import { ATTENTION_PUSH_BYTES, attentionPush, attentionShapeError, kvTypeShapeError } from './attention_vec';
import { isPow2, limitReject } from './common';
import { hasCoopmatShape } from './matmul_coopmat';

/** Smallest query count attention.coopmat is offered for (supports()). */
export const ATTENTION_COOPMAT_MIN_QUERIES = 16;

/** Estimated 32-bit registers per lane above which a variant is rejected (coopmat fragments only). */
export const ATTENTION_COOPMAT_MAX_REGS = 192;

/** Derived tile quantities of a variant (they mirror the template's constants). */
export function coopmatAttentionDims(p: Params): {
  DP: number;
  DT: number;
  KS: number;
  SS: number;
  PS: number;
  SRB: number;
  SCB: number;
  ODB: number;
  TPR: number;
  RPT: number;
} {
  const DP = Math.ceil(p.D / 16) * 16;
  const DT = DP / 16;
  return {
    DP,
    DT,
    KS: DP + p.PAD,
    SS: p.BC + p.PAD / 2,
    PS: p.BC + p.PAD,
    SRB: p.BR / 16 / p.RS,
    SCB: p.BC / 16 / p.CS,
    ODB: Math.ceil(DT / p.CS),
    TPR: p.WG >= p.BR ? p.WG / p.BR : 1,
    RPT: p.BR >= p.WG ? p.BR / p.WG : 1,
  };
}

/**
 * Estimated 32-bit registers per lane held in coopmat fragments: O and S accumulators (16x16 f32), the
 * P fragments and, with Q_REG, the Q fragments (16x16 f16), spread over `subgroupSize` lanes.
 */
export function coopmatAttentionRegs(p: Params, subgroupSize: number): number {
  const d = coopmatAttentionDims(p);
  const acc = d.SRB * (d.ODB + d.SCB) * 256;
  const frags = (d.SRB + (p.Q_REG ? d.SRB * d.DT : 0)) * 128;
  return (acc + frags) / subgroupSize;
}

const ext = ['GL_KHR_cooperative_matrix'];

export const attentionCoopmat: KernelFamily<AttentionShape> = {
  id: 'attention.coopmat',
  op: 'attention',
  template: 'attention_coopmat.comp.hbs',
  instances: (['f16', 'q8_0', 'q4_0'] as const).map((kv) => ({ key: kv, defines: { KV_TYPE: kv, COOPMAT_EMU: false }, requiresCompilerExtensions: ext, requiresDevice: ['coopmat' as const, 'shaderFloat16' as const] })),
  params: [
    { name: 'WG', values: [32, 64, 128, 256], specId: 0, doc: 'workgroup size = RS*CS*subgroupSize' },
    { name: 'BR', values: [16, 32, 64, 128], specId: 1, doc: 'rows (query row, head) per workgroup; multiple of 16*RS' },
    { name: 'BC', values: [16, 32, 64, 128], specId: 2, doc: 'KV rows per shared-memory tile; multiple of 16*CS' },
    { name: 'RS', values: [1, 2, 4, 8], specId: 3, doc: 'subgroups splitting the rows of S and O' },
    { name: 'CS', values: [1, 2, 4], specId: 4, doc: 'subgroups splitting the columns of S and the head dim of O' },
    { name: 'PAD', values: [0, 8, 16], specId: 5, doc: 'padding per shared row: f16 elements for Q/K/V/P rows, PAD/2 floats for S rows' },
    { name: 'Q_REG', values: [0, 1], specId: 6, doc: '1: Q fragments kept in registers (no Q array in shared memory)' },
    { name: 'GQA_PACK', values: [0, 1], specId: 7, doc: '1: a workgroup covers the query heads sharing one KV head' },
    { name: 'D', values: [128], specId: 8, doc: 'head dim (multiple of 8); plan() overrides it with shape.D' },
  ],
  defaults: { WG: 128, BR: 64, BC: 32, RS: 4, CS: 1, PAD: 8, Q_REG: 1, GQA_PACK: 1, D: 128 },
  bindings: [
    { name: 'Q', access: 'read' },
    { name: 'K', access: 'read' },
    { name: 'V', access: 'read' },
    { name: 'O', access: 'write' },
    { name: 'scratch', access: 'readwrite' },
  ],
  pushConstantBytes: ATTENTION_PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /**
   * Mirrors the template: KV f16[2*BC*KS] (K then V tile), Qs f16[BR*KS] (one f16vec4 with Q_REG),
   * Ss f32[BR*SS], Ps f16[BR*PS], Linv f32[BR]; KS = DP+PAD, SS = BC+PAD/2, PS = BC+PAD.
   */
  sharedMemoryBytes(p) {
    const d = coopmatAttentionDims(p);
    return 2 * 2 * p.BC * d.KS + (p.Q_REG ? 8 : 2 * p.BR * d.KS) + 4 * p.BR * d.SS + 2 * p.BR * d.PS + 4 * p.BR;
  },
  reject(p: Params, instance: TemplateInstance, limits: DeviceLimits): string | null {
    if (!limits.coopmat) return 'device has no cooperative matrices';
    if (!limits.shaderFloat16) return 'device lacks shaderFloat16';
    if (!hasCoopmatShape(limits, 16, 16, 16)) return 'device lacks the f16 16x16x16 -> f32 coopmat shape';
    if (p.D % 8 !== 0) return `D=${p.D} not a multiple of 8`;
    if (p.WG !== p.RS * p.CS * limits.subgroupSize) return 'WG != RS*CS*subgroupSize';
    if (p.BR % (16 * p.RS) !== 0) return `BR=${p.BR} not a multiple of 16*RS`;
    if (p.BC % (16 * p.CS) !== 0) return `BC=${p.BC} not a multiple of 16*CS`;
    if (p.PAD % 8 !== 0) return `PAD=${p.PAD} not a multiple of 8`;
    const d = coopmatAttentionDims(p);
    if (!isPow2(p.WG) || !isPow2(p.BR)) return 'WG and BR must be powers of two';
    if (d.TPR > limits.subgroupSize) return `softmax threads per row ${d.TPR} > subgroup size`;
    if (p.BC % d.TPR !== 0) return `BC=${p.BC} not a multiple of softmax threads per row ${d.TPR}`;
    if (p.CS > d.DT) return `CS=${p.CS} > D/16 blocks ${d.DT}: idle subgroups`;
    if (p.Q_REG && p.BR > 2 * p.BC) return `Q_REG stages Q in the K/V tile area: BR=${p.BR} > 2*BC`;
    const regs = coopmatAttentionRegs(p, limits.subgroupSize);
    if (regs > ATTENTION_COOPMAT_MAX_REGS) return `too many registers: coopmat fragments need ~${Math.round(regs)} per lane (> ${ATTENTION_COOPMAT_MAX_REGS})`;
    return limitReject(p.WG, this.sharedMemoryBytes(p, instance), limits);
  },
  supports(s: AttentionShape, instance: TemplateInstance): boolean {
    return attentionShapeError(s) === null && kvTypeShapeError(instance, s) === null && s.queries >= ATTENTION_COOPMAT_MIN_QUERIES;
  },
  /** @throws Error if the shape is invalid (see attentionShapeError). Any query count is planned exactly. */
  plan(s: AttentionShape, p: Params) {
    const err = attentionShapeError(s);
    if (err) throw new Error(`attention.coopmat: ${err}`);
    const hpg = p.GQA_PACK ? s.heads / s.kvHeads : 1;
    return {
      steps: [{ specOverrides: { D: s.D }, push: attentionPush(s, 1), groups: [ceilDiv(hpg * s.queries, p.BR), s.heads / hpg, 1] }],
      scratchBytes: 0,
    };
  },
};
