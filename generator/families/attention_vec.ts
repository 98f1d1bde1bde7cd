/**
 * attention.vec: split-KV flash attention for decode (few query rows), op `attention` (see ../ops.ts).
 *
 * Template templates/attention_vec.comp.hbs, two passes in one SPIR-V selected by spec constant PASS:
 * - PASS 0 (main): groups [ceilDiv(rowsPerGroup, ROWS), heads / hpg, splits]. A "row" is a (query row,
 *   query head) pair; a head group is the hpg = (GQA_PACK ? heads/kvHeads : 1) query heads that share one
 *   KV head, so with GQA_PACK the K/V rows are read once for all of them. rowsPerGroup = hpg * queries,
 *   row index ri -> query ri / hpg, head group*hpg + ri % hpg. The WG threads form WG/TPR groups of TPR
 *   threads; groups take the split's KV rows round-robin, each thread holds ceil(D/4/TPR) vec4s of every
 *   row's q and accumulator, the TPR partial dot products are summed by subgroup shuffles (SG_REDUCE=1)
 *   or shared memory (SG_REDUCE=0). A group takes KVU rows per iteration (loads of all KVU issued first,
 *   one online-softmax rescale per iteration); with PREFETCH 1 the next iteration's loads are issued before the
 *   current iteration's dot products (software pipelining: the loop's serial chain of load latencies, which bounds
 *   a split of KV_CHUNK rows at ~KV_CHUNK / (KVU * WG / TPR) DRAM round trips, overlaps the arithmetic).
 *   Online softmax per group, merged in shared memory at the end.
 * - PASS 1 (reduce): groups [queries*heads, 1, 1]; merges the splits' partials (m, l, acc) into O.
 * - MERGE 1 (tunable): no PASS 1 dispatch. Each PASS 0 workgroup, after writing its partials, counts itself
 *   in on its tile's counter (binding "counters", one u32 per (x, y) tile of the grid; atomicAdd after a
 *   buffer memory barrier); the last of the tile's splits to arrive merges the tile's rows as PASS 1 would
 *   and sets the counter back to 0 (the "last block" reduction of CUDA's threadFenceReduction sample). One
 *   dependent dispatch fewer per call: on NVIDIA's Vulkan driver a dispatch with its barrier costs ~5 us.
 *   plan().counterWords = tiles (the caller supplies them zeroed: generator/schema.ts COUNTER_BYTES).
 *
 * Split-KV parametrization: KV_CHUNK (KV rows per split) is the tunable; the split count is derived at
 * plan time, splits = ceilDiv(kvVisible, KV_CHUNK) with kvVisible = causal ? min(kvLength, queryPos0 +
 * queries) : kvLength. splits == 1: one dispatch writes O directly, scratchBytes = 0.
 * Scratch (binding "scratch", f32): acc [splits][queries][heads][D] (unnormalized, log2-domain
 * weights), then (m, l) [splits][queries][heads][2]; scratchBytes = splits*queries*heads*(D+2)*4.
 *
 * Head dim D: a specialization constant (it sizes the per-thread register arrays and the shared merge
 * buffer), listed as parameter `D` with the single value 128 so specConstants() emits it; plan() overrides
 * it with shape.D in every step's specOverrides, so runtime and tuner create one pipeline per D.
 * reject()/sharedMemoryBytes() read p.D: pass p.D = shape.D to check a variant for a shape (the value
 * 128 is the bound for the usual head dims <= 128). PASS likewise has the single value 0 and is set per step.
 *
 * DYNAMIC (shape.dynamicPos, set by plan like D and PASS): queryPos0 and kvLength are read from binding
 * "step" (u32 [0] = position of query row 0) for decode-step replay; the split count is planned for the
 * shape's kvLength (an upper bound) and splits past the real length contribute nothing.
 *
 * Push constants (36 bytes, both attention families): u32 heads, kvHeads, queries, kvLength, kvStride,
 * queryPos0, causal (0/1), splits; f32 scale.
 * K/V instances f32, f16, q8_0 and q4_0 (templates/partials/kv_cache.glsl.hbs): f16 read as packed 32-bit words
 * (unpackHalf2x16), q8_0 / q4_0 quants as 32-bit words, so none needs 8/16-bit storage features; arithmetic is f32
 * throughout.
 */
import { type AttentionShape, KV_TYPES, isKvQuantType } from '../ops';
import { type DeviceLimits, type KernelFamily, type Params, type TemplateInstance, PushWriter, ceilDiv } from '../schema';

/** Push-constant block size of both attention families, bytes. */
export const ATTENTION_PUSH_BYTES = 36;

/** The 36-byte push-constant block shared by the attention families. */
export function attentionPush(s: AttentionShape, splits: number): Uint8Array {
  return new PushWriter(ATTENTION_PUSH_BYTES)
    .u32(s.heads)
    .u32(s.kvHeads)
    .u32(s.queries)
    .u32(s.kvLength)
    .u32(s.kvStride)
    .u32(s.queryPos0)
    .u32(s.causal ? 1 : 0)
    .u32(splits)
    .f32(s.scale)
    .done();
}

/**
 * Why an attention shape is invalid for these families, or null.
 * Requires D a positive multiple of 8, heads a multiple of kvHeads, 1 <= kvLength <= kvStride, queries >= 1.
 */
export function attentionShapeError(s: AttentionShape): string | null {
  if (!(s.D > 0 && s.D % 8 === 0)) return `D=${s.D} is not a positive multiple of 8`;
  if (!(s.kvHeads > 0 && s.heads > 0 && s.heads % s.kvHeads === 0)) return `heads=${s.heads} not a multiple of kvHeads=${s.kvHeads}`;
  if (!(s.queries >= 1)) return `queries=${s.queries} < 1`;
  if (!(s.kvLength >= 1 && s.kvLength <= s.kvStride)) return `kvLength=${s.kvLength} outside [1, kvStride=${s.kvStride}]`;
  if (!(s.queryPos0 >= 0)) return `queryPos0=${s.queryPos0} < 0`;
  return null;
}

/** KV rows visible to any query row of the shape (causal limits to queryPos0 + queries). */
export function attentionVisibleKv(s: AttentionShape): number {
  return s.causal ? Math.min(s.kvLength, s.queryPos0 + s.queries) : s.kvLength;
}

/** The K/V instances of the attention families: key = K/V type (f16, f32, q8_0, q4_0), define KV_TYPE (partials/kv_cache). */
export function attentionInstances(): TemplateInstance[] {
  return KV_TYPES.map((kv) => ({ key: kv, defines: { KV_TYPE: kv } }));
}

/** Why the K/V type of an attention instance cannot hold a shape's head dim, or null (q8_0 / q4_0: whole 32-value blocks, generator/ops.ts kvCacheBytes). */
export function kvTypeShapeError(instance: TemplateInstance, s: { D: number }): string | null {
  const kv = String(instance.defines.KV_TYPE);
  return isKvQuantType(kv) && s.D % 32 !== 0 ? `D=${s.D} is not a multiple of 32 (${kv} K/V blocks)` : null;
}

const isPow2 = (x: number): boolean => x > 0 && (x & (x - 1)) === 0;

/** Largest attention.vec query count supported (rows per workgroup stay in registers). */
export const ATTENTION_VEC_MAX_QUERIES = 8;

export const attentionVec: KernelFamily<AttentionShape> = {
  id: 'attention.vec',
  op: 'attention',
  template: 'attention_vec.comp.hbs',
  abi: 2,
  instances: attentionInstances(),
  params: [
    { name: 'WG', values: [32, 64, 128, 256], specId: 0, doc: 'workgroup size' },
    { name: 'TPR', values: [2, 4, 8, 16, 32], specId: 1, doc: 'threads per KV row across D (power of two)' },
    { name: 'ROWS', values: [1, 2, 4, 8], specId: 2, doc: 'rows (query row, head) per workgroup' },
    { name: 'KV_CHUNK', values: [32, 64, 128, 256, 512, 1024, 4096], specId: 3, doc: 'KV rows per split; splits = ceilDiv(kvVisible, KV_CHUNK)' },
    { name: 'GQA_PACK', values: [0, 1], specId: 4, doc: '1: a workgroup covers the query heads sharing one KV head' },
    { name: 'SG_REDUCE', values: [0, 1], specId: 5, doc: 'dot reduction across TPR threads: 0 shared memory, 1 subgroup shuffles' },
    { name: 'D', values: [128], specId: 6, doc: 'head dim (multiple of 8); plan() overrides it with shape.D' },
    { name: 'PASS', values: [0], specId: 7, doc: '0 main, 1 split reduce; plan() sets it per step' },
    { name: 'DYNAMIC', values: [0], specId: 8, doc: '1: positions from the step buffer (shape.dynamicPos); plan() sets it' },
    { name: 'KVU', values: [1, 2, 4], specId: 9, doc: 'KV rows per thread group per iteration (their loads in flight together)' },
    { name: 'MERGE', values: [0, 1], specId: 10, doc: 'splits > 1: 0 = a reduce dispatch (PASS 1); 1 = the last workgroup of a tile merges its splits (counters)' },
    { name: 'PREFETCH', values: [0, 1], specId: 14, doc: '1: the next iteration\'s K/V loads are issued before this iteration\'s dot products (twice the K/V registers)' },
  ],
  defaults: { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 256, GQA_PACK: 1, SG_REDUCE: 0, D: 128, PASS: 0, DYNAMIC: 0, KVU: 1, MERGE: 0, PREFETCH: 0 },
  bindings: [
    { name: 'Q', access: 'read' },
    { name: 'K', access: 'read' },
    { name: 'V', access: 'read' },
    { name: 'O', access: 'write' },
    { name: 'scratch', access: 'readwrite' },
    { name: 'step', access: 'read', optional: true },
    { name: 'counters', access: 'readwrite', optional: true },
  ],
  pushConstantBytes: ATTENTION_PUSH_BYTES,
  workgroupSize: (p) => [p.WG, 1, 1],
  /** Mirrors the template: Cacc vec4[G*D/4], Cm/Cl float[ROWS*G], Red float[KVU*ROWS*WG] (1 under SG_REDUCE), G = WG/TPR. */
  sharedMemoryBytes(p) {
    const G = Math.floor(p.WG / p.TPR);
    return 4 * (G * p.D + 2 * p.ROWS * G + (p.SG_REDUCE ? 1 : p.KVU * p.ROWS * p.WG));
  },
  reject(p: Params, instance: TemplateInstance, limits: DeviceLimits): string | null {
    if (p.WG > limits.maxWorkgroupInvocations || p.WG > limits.maxWorkgroupSizeX) return `WG=${p.WG} exceeds the device workgroup limit`;
    if (!isPow2(p.TPR)) return `TPR=${p.TPR} is not a power of two`;
    if (p.WG % p.TPR !== 0 || p.WG < p.TPR) return `WG=${p.WG} not a multiple of TPR=${p.TPR}`;
    if (p.SG_REDUCE && p.TPR > limits.subgroupSize) return `SG_REDUCE needs TPR=${p.TPR} <= subgroup size ${limits.subgroupSize}`;
    if (p.D % 8 !== 0) return `D=${p.D} not a multiple of 8`;
    if (p.TPR > p.D / 4) return `TPR=${p.TPR} > D/4=${p.D / 4}: idle threads`;
    if (p.KV_CHUNK < (p.KVU * p.WG) / p.TPR) return `KV_CHUNK=${p.KV_CHUNK} < KV rows per iteration ${(p.KVU * p.WG) / p.TPR} (KVU x thread groups)`;
    const regs = 2 * (p.ROWS + p.KVU * (1 + (p.PREFETCH ?? 0))) * 4 * Math.ceil(p.D / 4 / p.TPR);
    if (regs > 256) return `q+acc and the in-flight K/V rows need ${regs} floats per thread (> 256)`;
    const shm = this.sharedMemoryBytes(p, instance);
    if (shm > limits.maxSharedMemoryBytes) return `shared memory ${shm} > ${limits.maxSharedMemoryBytes}`;
    return null;
  },
  supports(s: AttentionShape, instance: TemplateInstance): boolean {
    return attentionShapeError(s) === null && kvTypeShapeError(instance, s) === null && s.queries <= ATTENTION_VEC_MAX_QUERIES;
  },
  /** @throws Error if the shape is invalid (see attentionShapeError). */
  plan(s: AttentionShape, p: Params) {
    const err = attentionShapeError(s);
    if (err) throw new Error(`attention.vec: ${err}`);
    const hpg = p.GQA_PACK ? s.heads / s.kvHeads : 1;
    const splits = ceilDiv(attentionVisibleKv(s), p.KV_CHUNK);
    const push = attentionPush(s, splits);
    const DYNAMIC = s.dynamicPos ? 1 : 0;
    const grid: [number, number, number] = [ceilDiv(hpg * s.queries, p.ROWS), s.heads / hpg, splits];
    const steps = [{ specOverrides: { D: s.D, PASS: 0, DYNAMIC }, push, groups: grid }];
    const merged = splits > 1 && p.MERGE === 1;
    if (splits > 1 && !merged) steps.push({ specOverrides: { D: s.D, PASS: 1, DYNAMIC }, push, groups: [s.queries * s.heads, 1, 1] });
    const scratchBytes = splits > 1 ? splits * s.queries * s.heads * (s.D + 2) * 4 : 0;
    return merged ? { steps, scratchBytes, counterWords: grid[0] * grid[1] } : { steps, scratchBytes };
  },
};
