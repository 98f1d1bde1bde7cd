/**
 * attention_o.vec: decode attention with the output projection and its residual add in one dispatch, op
 * `attention_o` (generator/ops.ts AttentionOShape: X[i] += Wo * attention(Q, K, V)[i]).
 *
 * Template templates/attention_vec.comp.hbs with define OPROJ: attention.vec's main pass (same parameters,
 * same grid [ceilDiv(rowsPerGroup, ROWS), heads / hpg, splits], same split-KV walk and online softmax; see
 * ./attention_vec.ts), except that a finished row (query qi, head h: D values, normalized) goes to shared
 * memory instead of O. The workgroup that finishes a tile (splits == 1: every workgroup; splits > 1: the tile's
 * last split, which merges the splits' partials as attention.vec's MERGE 1 does, counters in binding
 * "counters") then multiplies the tile's rows with their columns of Wo (rows 0..dim-1, columns h*D ..
 * h*D + D - 1) and adds the partial sums into X[qi] with float atomics (VK_EXT_shader_atomic_float). With
 * GQA_PACK and one query a tile is ROWS consecutive heads of one query: one atomic per Wo row and tile.
 * x += Wo * o is linear in o, so the per-tile partials summed by atomics are the O projection with its residual
 * add, in place: no zeroing, no extra buffer. One dependent dispatch fewer per layer than attention.vec + the O
 * GEMV (RESIDUAL epilogue); ~5-7 us each on NVIDIA's Vulkan driver (README, "Dispatches merged away").
 *
 * Wo is read as floats (dequantized in registers, FMA with the shared row): its bytes are small (2048 x 2048
 * q4_0: 2.36 MB) and the products are few; no integer dot products. Instances: Wo type x K/V type, key
 * "q4_0.f16" (attentionOInstanceKey); q8_0 / q4_0 in kpack's GPU layout (generator/weight-layout.ts), f16 plain.
 * Needs D a multiple of 32 (whole q4_0 / q8_0 blocks per head) and heads * D columns in Wo.
 *
 * Extra parameters: OTPR (threads sharing one Wo row: they split each head's D/32 blocks; reduced with subgroup
 * shuffles, OTPR <= subgroup size and <= D/32), OU (Wo rows per row slot and step: OU rows' loads in flight
 * together), OSPLIT (the grid's z is OSPLIT * splits: OSPLIT parts each run the tile's attention, redundantly, and
 * project dim / OSPLIT rows of Wo, with their own scratch partials and counters: at one query there are only
 * heads * queries (query, head) rows, so without it a few tiles read all of Wo, e.g. 8 workgroups for llama-3.2-1b
 * with GQA_PACK and ROWS 4). Scratch (splits > 1): OSPLIT copies of attention.vec's, counters: OSPLIT per tile. MERGE has the single value 1 (there is no reduce pass to project in), PASS is always 0.
 * Push constants (40 bytes): attention's 36 (./attention_vec.ts attentionPush) then u32 dim.
 * Shared memory: attention.vec's plus the tile's rows, 16 * ROWS * D/4 bytes.
 * Precision: f32 arithmetic throughout (the attention's, then f32 FMAs of exact dequantized weights); the atomics'
 * summation order varies from run to run (results are not bit-reproducible, within f32 rounding).
 */
import { type AttentionOShape, KV_TYPES } from '../ops';
import { type DeviceLimits, type KernelFamily, type Params, PushWriter, type TemplateInstance, ceilDiv } from '../schema';
import { ATTENTION_VEC_MAX_QUERIES, attentionShapeError, attentionVec, attentionVisibleKv } from './attention_vec';

/** Wo weight types of attention_o.vec (instances: each with each K/V type). */
export const ATTENTION_O_WEIGHT_TYPES = ['q4_0', 'q8_0', 'f16'] as const;
/** Push-constant block of attention_o.vec, bytes. */
export const ATTENTION_O_PUSH_BYTES = 40;

/**
 * Why an attention_o shape is invalid for attention_o.vec, or null: attentionShapeError's rules, D a multiple of
 * 32, at most ATTENTION_VEC_MAX_QUERIES queries, dim >= 1.
 */
export function attentionOShapeError(s: AttentionOShape): string | null {
  const err = attentionShapeError(s);
  if (err) return err;
  if (s.D % 32 !== 0) return `D=${s.D} is not a multiple of 32 (whole Wo blocks per head)`;
  if (s.queries > ATTENTION_VEC_MAX_QUERIES) return `queries=${s.queries} > ${ATTENTION_VEC_MAX_QUERIES}`;
  if (!(Number.isInteger(s.dim) && s.dim >= 1)) return `dim=${s.dim} is not a positive integer`;
  return null;
}

const instances = (): TemplateInstance[] =>
  ATTENTION_O_WEIGHT_TYPES.flatMap((wo) =>
    KV_TYPES.map((kv) => ({
      key: `${wo}.${kv}`,
      defines: { KV_TYPE: kv, OPROJ: true, WO_TYPE: wo },
      requiresCompilerExtensions: ['GL_EXT_shader_atomic_float'],
      requiresDevice: ['atomicFloatAdd' as const],
    })),
  );

const baseParams = attentionVec.params.map((p) => (p.name === 'MERGE' ? { ...p, values: [1], doc: 'always 1: splits > 1 merge in the tile\'s last workgroup, which then projects' } : p));

export const attentionOVec: KernelFamily<AttentionOShape> = {
  id: 'attention_o.vec',
  op: 'attention_o',
  template: 'attention_vec.comp.hbs',
  instances: instances(),
  params: [
    ...baseParams,
    { name: 'OTPR', values: [1, 2, 4], specId: 11, doc: 'threads sharing one Wo row (they split each head\'s D/32 blocks)' },
    { name: 'OU', values: [1, 2, 4], specId: 12, doc: 'Wo rows per row slot and step (their loads in flight together)' },
    { name: 'OSPLIT', values: [1, 2, 4, 8], specId: 13, doc: 'parts of the grid (z = part * splits + split): each runs the attention and projects dim / OSPLIT rows of Wo' },
  ],
  defaults: { ...attentionVec.defaults, MERGE: 1, OTPR: 1, OU: 2, OSPLIT: 1 },
  bindings: [
    { name: 'Q', access: 'read' },
    { name: 'K', access: 'read' },
    { name: 'V', access: 'read' },
    { name: 'X', access: 'readwrite' },
    { name: 'scratch', access: 'readwrite' },
    { name: 'step', access: 'read', optional: true },
    { name: 'counters', access: 'readwrite', optional: true },
    { name: 'Wo', access: 'read' },
  ],
  pushConstantBytes: ATTENTION_O_PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** attention.vec's shared arrays plus Ot vec4[ROWS * D/4]. */
  sharedMemoryBytes(p, instance) {
    return attentionVec.sharedMemoryBytes(p, instance) + 4 * p.ROWS * p.D;
  },
  reject(p: Params, instance: TemplateInstance, limits: DeviceLimits): string | null {
    const base = attentionVec.reject(p, instance, limits);
    if (base) return base;
    if (p.MERGE !== 1) return 'MERGE must be 1';
    if (p.OTPR > limits.subgroupSize) return `OTPR=${p.OTPR} > subgroup size ${limits.subgroupSize}`;
    if (p.WG % p.OTPR) return `WG=${p.WG} not a multiple of OTPR=${p.OTPR}`;
    if (p.D % 32 === 0 && p.OTPR > p.D / 32) return `OTPR=${p.OTPR} > D/32=${p.D / 32}: idle lanes`;
    const shm = this.sharedMemoryBytes(p, instance);
    if (shm > limits.maxSharedMemoryBytes) return `shared memory ${shm} > ${limits.maxSharedMemoryBytes}`;
    return null;
  },
  supports: (s) => attentionOShapeError(s) === null,
  /** @throws Error if the shape is invalid (attentionOShapeError). */
  plan(s: AttentionOShape, p: Params) {
    const err = attentionOShapeError(s);
    if (err) throw new Error(`attention_o.vec: ${err}`);
    const hpg = p.GQA_PACK ? s.heads / s.kvHeads : 1;
    const splits = ceilDiv(attentionVisibleKv(s), p.KV_CHUNK);
    const push = new PushWriter(ATTENTION_O_PUSH_BYTES)
      .u32(s.heads).u32(s.kvHeads).u32(s.queries).u32(s.kvLength).u32(s.kvStride).u32(s.queryPos0).u32(s.causal ? 1 : 0).u32(splits).f32(s.scale)
      .u32(s.dim)
      .done();
    const grid: [number, number, number] = [ceilDiv(hpg * s.queries, p.ROWS), s.heads / hpg, splits * p.OSPLIT];
    const steps = [{ specOverrides: { D: s.D, PASS: 0, DYNAMIC: s.dynamicPos ? 1 : 0 }, push, groups: grid }];
    if (splits === 1) return { steps, scratchBytes: 0 };
    return { steps, scratchBytes: p.OSPLIT * splits * s.queries * s.heads * (s.D + 2) * 4, counterWords: grid[0] * grid[1] * p.OSPLIT };
  },
};
