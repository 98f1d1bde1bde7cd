/**
 * Tuning workloads: the distinct (op, shape, instance) problems one model runs, and the buckets that
 * group them. A pack holds one winner per bucket; buckets are the pack's EntryMatch (instance, shape
 * key, batch/depth ranges) and its bucketKey, built by the helpers below (`matmulMatch`,
 * `attentionMatch`, `*Bucket`) so tuner and runtime selection agree.
 */
import type { AttentionOShape, AttentionShape, FfnShape, KvType, MatmulEpilogue, MatmulShape, WeightType } from '../generator/ops';
import { familiesForOp } from '../generator/families';
import { VEC_NMAX } from '../generator/families/matmul_vec';
import { REPLAY_WINDOW, attentionOInstanceKey, attentionOInstanceTypes, ffnInstanceKey, ffnInstanceTypes, isKvQuantType, kvCacheBytes, weightBytes } from '../generator/ops';
import { type EntryMatch, type Range, bucketKey, rangeContains } from './pack/format';

export interface ModelDims {
  name: string;
  /** Model (residual) width. */
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffnDim: number;
  vocab: number;
  weightType: WeightType;
  /**
   * Type of the output head (output.weight, or the tied token embedding), when it differs from
   * weightType: llama-quantize keeps it at Q6_K for Q4_0 / Q4_K models (runtime/synth.ts
   * llamaQuantTensorType), and the runtime looks its kernel up by that type.
   */
  outputType?: WeightType;
  /**
   * The distinct weight types of a layer's projections in a mixed model (llama-quantize's Q4_K_M: attn_v and
   * ffn_down are Q6_K in some layers and Q4_K in the others); absent: every projection is weightType.
   */
  layerTypes?: LayerTypes[];
  kvType: KvType;
  /**
   * Rotary embedding of the model (base theta, pair layout), when the runtime may fuse rope_kv into the
   * decode QKV product (runtime/model/llama.ts ropeEpilogue: adjacent pairs only).
   */
  rope?: { base: number; mode: 'adjacent' | 'neox' };
}

export type TunedOp = 'matmul' | 'attention' | 'ffn' | 'attention_o';

interface WorkloadBase {
  /** Unique and stable id, e.g. "matmul/f16/M=2048,K=2048,N=1"; used as journal key. */
  id: string;
  /** Human label, e.g. "q,o 2048x2048 N=1". */
  label: string;
  /** Family instance key the workload needs: the weight type (matmul) or K/V type (attention). */
  instanceKey: string;
  /** Bucket key (see matmulBucket / attentionBucket). */
  bucket: string;
  /** The pack-entry match of the bucket (tuner/pack/format EntryMatch). */
  match: EntryMatch;
  /** Floating-point operations of one launch (multiply-add = 2). */
  flops: number;
  /** Minimum bytes one launch must move to/from memory: every input read once, every output written once. */
  minBytes: number;
}
export interface MatmulWorkload extends WorkloadBase {
  op: 'matmul';
  shape: MatmulShape;
  /**
   * The epilogue the runtime fuses into this product when the chosen family can (the decode QKV
   * product's rope): a candidate of a family that fuses it must support the shape with it, so the
   * winner does not silently cost the separate dispatch. Timed without it (same weight traffic).
   */
  fuses?: MatmulEpilogue;
}
export interface AttentionWorkload extends WorkloadBase {
  op: 'attention';
  shape: AttentionShape;
}
/**
 * The decode feed-forward block as one op (generator/ops.ts FfnShape), tuned beside the gate|up and down
 * GEMVs it replaces; autotune keeps its entry only where it beats their sum (tuner/autotune.ts).
 */
export interface FfnWorkload extends WorkloadBase {
  op: 'ffn';
  shape: FfnShape;
}
/**
 * Decode attention with the O projection and its residual add as one op (generator/ops.ts AttentionOShape), tuned
 * beside the attention and O GEMV it replaces; autotune keeps its entry only where it beats their sum.
 */
export interface AttentionOWorkload extends WorkloadBase {
  op: 'attention_o';
  shape: AttentionOShape;
}
export type Workload = MatmulWorkload | AttentionWorkload | FfnWorkload | AttentionOWorkload;

/** Inclusive [lo, hi] ranges of N (matmul) and of queries (attention); hi null = unbounded. */
export const BATCH_RANGES: readonly Range[] = [
  [1, 1],
  [2, 8],
  [9, 64],
  [65, null],
];
/** Inclusive ranges of the attention depth (queryPos0 = kvLength - queries: tokens already cached). */
export const DEPTH_RANGES: readonly Range[] = [
  [0, 1023],
  [1024, 8191],
  [8192, 32767],
  [32768, null],
];
/** RMSNorm eps of ffn workloads (ModelDims has none; the value does not change the work). */
export const FFN_TUNING_EPS = 1e-5;
/** Batches up to this many queries are decode steps (the attention VEC regime). */
export const DECODE_MAX_QUERIES = 8;
/** kvStride of attention workloads: kvLength rounded up to a multiple of this (rows). */
export const KV_STRIDE_ALIGN = 256;

/** The range of `ranges` containing v. @throws RangeError when none does. */
export function rangeOf(v: number, ranges: readonly Range[]): Range {
  const r = ranges.find((r) => rangeContains(r, v));
  if (!r) throw new RangeError(`value ${v} is outside the bucket ranges`);
  return r;
}

/** Pack match of a matmul: instance, shape key {M, K}, N range. */
export function matmulMatch(instanceKey: string, s: MatmulShape): EntryMatch {
  return { instance: instanceKey, shape: { M: s.M, K: s.K }, range: { N: rangeOf(s.N, BATCH_RANGES) } };
}

/** Pack match of an attention launch: instance, shape key {D, heads, kvHeads}, queries and depth (= queryPos0) ranges. */
export function attentionMatch(instanceKey: string, s: AttentionShape): EntryMatch {
  return {
    instance: instanceKey,
    shape: { D: s.D, heads: s.heads, kvHeads: s.kvHeads },
    range: { queries: rangeOf(s.queries, BATCH_RANGES), depth: rangeOf(s.queryPos0, DEPTH_RANGES) },
  };
}

/** Pack match of an ffn call: instance, shape key {dim, hidden}, N range. */
export function ffnMatch(instanceKey: string, s: FfnShape): EntryMatch {
  return { instance: instanceKey, shape: { dim: s.dim, hidden: s.hidden }, range: { N: rangeOf(s.N, BATCH_RANGES) } };
}

/** Pack match of an attention_o call: instance, shape key {D, heads, kvHeads, dim}, queries and depth ranges. */
export function attentionOMatch(instanceKey: string, s: AttentionOShape): EntryMatch {
  const a = attentionMatch(instanceKey, s);
  return { ...a, shape: { ...a.shape!, dim: s.dim } };
}

/** Bucket of a matmul, e.g. "matmul/f16/M=2048,K=2048/N=2-8" (tuner/pack/format bucketKey). */
export function matmulBucket(instanceKey: string, s: MatmulShape): string {
  return bucketKey('matmul', matmulMatch(instanceKey, s));
}

/** Bucket of an attention launch, e.g. "attention/f16/D=64,heads=32,kvHeads=8/queries=1,depth=1024-8191". */
export function attentionBucket(instanceKey: string, s: AttentionShape): string {
  return bucketKey('attention', attentionMatch(instanceKey, s));
}

/**
 * matmul: FLOPs 2*M*N*K; bytes = A (M*K of the weight type: weightBytes, whole blocks for q8_0/q4_0)
 * + B (N*K f32) + D (N*M f32).
 * @throws Error for a quantized type when K is not a multiple of its block (32; 256 for q4_k / q6_k).
 */
export function matmulWorkload(instanceKey: WeightType, s: MatmulShape, names = '', fuses?: MatmulEpilogue): MatmulWorkload {
  const flops = 2 * s.M * s.N * s.K;
  if (s.K % 32 && (instanceKey === 'q8_0' || instanceKey === 'q4_0')) throw new Error(`matmulWorkload: ${instanceKey} needs K % 32 == 0, got K = ${s.K}`);
  if (s.K % 256 && (instanceKey === 'q4_k' || instanceKey === 'q6_k')) throw new Error(`matmulWorkload: ${instanceKey} needs K % 256 == 0, got K = ${s.K}`);
  const minBytes = weightBytes(instanceKey, s.M * s.K) + 4 * s.N * s.K + 4 * s.N * s.M;
  const id = `matmul/${instanceKey}/M=${s.M},K=${s.K},N=${s.N}`;
  const label = `${names ? names + ' ' : ''}${instanceKey} ${s.M}x${s.K} N=${s.N}`;
  return { op: 'matmul', id, label, instanceKey, shape: s, bucket: matmulBucket(instanceKey, s), match: matmulMatch(instanceKey, s), flops, minBytes, ...(fuses ? { fuses } : {}) };
}

/**
 * attention: FLOPs = 4*D*heads*(visible (query, key) pairs) (QK^T and PV, 2 FLOPs per MAC; softmax
 * ignored); with causal masking query i sees queryPos0+i+1 keys. Bytes = Q + O (f32) + the kvLength
 * rows of K and V actually read (generator/ops.ts kvCacheBytes of the kv dtype).
 */
export function attentionWorkload(instanceKey: KvType, s: AttentionShape): AttentionWorkload {
  let pairs = 0;
  for (let i = 0; i < s.queries; i++) pairs += s.causal ? Math.min(s.kvLength, s.queryPos0 + i + 1) : s.kvLength;
  const flops = 4 * s.D * s.heads * pairs;
  const minBytes = 2 * 4 * s.queries * s.heads * s.D + 2 * kvCacheBytes(instanceKey, s.kvHeads * s.kvLength, s.D);
  const id = `attention/${instanceKey}/D=${s.D},H=${s.heads},KVH=${s.kvHeads},Q=${s.queries},depth=${s.queryPos0}`;
  const label = `attn ${instanceKey} D=${s.D} H=${s.heads}/${s.kvHeads} q=${s.queries} depth=${s.queryPos0}`;
  return { op: 'attention', id, label, instanceKey, shape: s, bucket: attentionBucket(instanceKey, s), match: attentionMatch(instanceKey, s), flops, minBytes };
}

/**
 * ffn: FLOPs 6 * N * hidden * dim (gate, up and down products; norm and swiglu ignored); bytes = the three
 * weight matrices (weightBytes of the instance's gate|up and down types, generator/ops.ts ffnInstanceTypes)
 * + X, Y and Z (f32 [N][dim] each).
 * @throws Error for a block type when dim or hidden is not whole blocks.
 */
export function ffnWorkload(instanceKey: string, s: FfnShape): FfnWorkload {
  const flops = 6 * s.N * s.hidden * s.dim;
  const { up, down } = ffnInstanceTypes(instanceKey);
  const minBytes = weightBytes(up as WeightType, 2 * s.hidden * s.dim) + weightBytes(down as WeightType, s.hidden * s.dim) + 3 * 4 * s.N * s.dim;
  const id = `ffn/${instanceKey}/dim=${s.dim},hidden=${s.hidden},N=${s.N}`;
  const label = `ffn ${instanceKey} ${s.dim}x${s.hidden} N=${s.N}`;
  const match = ffnMatch(instanceKey, s);
  return { op: 'ffn', id, label, instanceKey, shape: s, bucket: bucketKey('ffn', match), match, flops, minBytes };
}

/**
 * attention_o: the attention workload's FLOPs plus 2 * queries * dim * heads * D (the projection); bytes = Q, the
 * K/V rows read, Wo (weightBytes of the instance's Wo type) and X read and written (f32 [queries][dim]).
 * @throws Error for a block type when heads * D is not whole blocks.
 */
export function attentionOWorkload(instanceKey: string, s: AttentionOShape): AttentionOWorkload {
  const { wo, kv } = attentionOInstanceTypes(instanceKey);
  const a = attentionWorkload(kv as KvType, s);
  const K = s.heads * s.D;
  const flops = a.flops + 2 * s.queries * s.dim * K;
  const minBytes = a.minBytes - 4 * s.queries * K + weightBytes(wo as WeightType, s.dim * K) + 2 * 4 * s.queries * s.dim;
  const id = `attention_o/${instanceKey}/D=${s.D},H=${s.heads},KVH=${s.kvHeads},dim=${s.dim},Q=${s.queries},depth=${s.queryPos0}`;
  const label = `attn+o ${instanceKey} D=${s.D} H=${s.heads}/${s.kvHeads} dim=${s.dim} q=${s.queries} depth=${s.queryPos0}`;
  const match = attentionOMatch(instanceKey, s);
  return { op: 'attention_o', id, label, instanceKey, shape: s, bucket: bucketKey('attention_o', match), match, flops, minBytes };
}

/** The attention shape of `queries` new tokens at cache depth `depth` (causal, scale 1/sqrt(headDim)). */
export function attentionShapeAt(dims: ModelDims, queries: number, depth: number): AttentionShape {
  const kvLength = depth + queries;
  return {
    D: dims.headDim,
    heads: dims.heads,
    kvHeads: dims.kvHeads,
    queries,
    kvLength,
    kvStride: Math.ceil(kvLength / KV_STRIDE_ALIGN) * KV_STRIDE_ALIGN,
    queryPos0: depth,
    causal: true,
    scale: 1 / Math.sqrt(dims.headDim),
  };
}

/** Weight types of one layer's projections (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down). */
export interface LayerTypes {
  q: WeightType;
  k: WeightType;
  v: WeightType;
  o: WeightType;
  gate: WeightType;
  up: WeightType;
  down: WeightType;
}

/** The distinct layer type combinations of dims (ModelDims.layerTypes, else one: everything weightType). */
export function layerTypesOf(dims: ModelDims): LayerTypes[] {
  if (dims.layerTypes?.length) return dims.layerTypes;
  const w = dims.weightType;
  return [{ q: w, k: w, v: w, o: w, gate: w, up: w, down: w }];
}

/**
 * The distinct (M, K, weight type) of the layers' projections (each combination of layerTypesOf) plus the
 * output head (dims.outputType), with the names sharing each.
 * Q, K, V and gate, up are stacked into one product where their types agree, as the runtime stacks them
 * (runtime/model/weights.ts): qkv [q + 2 kv] x dim and gate_up [2 ffn] x dim; else each is its own product
 * (q [q] x dim, k and v [kv] x dim; gate, up [ffn] x dim).
 */
export function matmulShapesOf(dims: ModelDims): Array<{ M: number; K: number; type: WeightType; names: string[] }> {
  const q = dims.heads * dims.headDim;
  const kv = dims.kvHeads * dims.headDim;
  const all: Array<[string, number, number, WeightType]> = [];
  for (const t of layerTypesOf(dims)) {
    if (t.q === t.k && t.k === t.v) all.push(['qkv', q + 2 * kv, dims.dim, t.q]);
    else all.push(['q', q, dims.dim, t.q], ['k', kv, dims.dim, t.k], ['v', kv, dims.dim, t.v]);
    all.push(['o', dims.dim, q, t.o]);
    if (t.gate === t.up) all.push(['gate_up', 2 * dims.ffnDim, dims.dim, t.gate]);
    else all.push(['gate', dims.ffnDim, dims.dim, t.gate], ['up', dims.ffnDim, dims.dim, t.up]);
    all.push(['down', dims.dim, dims.ffnDim, t.down]);
  }
  all.push(['output', dims.vocab, dims.dim, dims.outputType ?? dims.weightType]);
  const out: Array<{ M: number; K: number; type: WeightType; names: string[] }> = [];
  for (const [name, M, K, type] of all) {
    const hit = out.find((e) => e.M === M && e.K === K && e.type === type);
    if (hit) {
      if (!hit.names.includes(name)) hit.names.push(name);
    } else out.push({ M, K, type, names: [name] });
  }
  return out;
}

/**
 * Every workload of a model: each distinct matmul (M, K) at N = each batch, the fused feed-forward (ffn) at
 * each decode batch (N <= VEC_NMAX) where a family implements the weight type, and attention at each
 * (batch, depth) pair. For decode batches (<= 8 queries) attention is also measured at the upper end
 * of each requested depth's bucket (when finite), so a decode winner must hold across the bucket and
 * not only at, say, depth 0 where the KV length is 1; and each decode depth d is measured at the end of its
 * replay window (decodeAttentionDepth: depth 0 as 255), because the replayed step plans its attention for the
 * window's KV length (generator/ops.ts REPLAY_WINDOW): a variant's split count, and with it its reduce dispatch,
 * is that of the window end, not of the position (2026-12-07d: a KV_CHUNK 32 MERGE 0 winner timed at KV length 1,
 * one split, ran 8 splits and a reduce dispatch per layer in the step, 9.9 us a call against 5.35 for the pack it
 * was to replace). Duplicates (same id) are dropped.
 * @throws RangeError on non-positive batches or negative depths.
 */
export function workloadsFor(dims: ModelDims, opts: { batches: number[]; depths: number[] }): Workload[] {
  if (opts.batches.some((b) => !(Number.isInteger(b) && b >= 1))) throw new RangeError('batches must be integers >= 1');
  if (opts.depths.some((d) => !(Number.isInteger(d) && d >= 0))) throw new RangeError('depths must be integers >= 0');
  const out: Workload[] = [];
  const seen = new Set<string>();
  const push = (w: Workload) => {
    if (!seen.has(w.id)) {
      seen.add(w.id);
      out.push(w);
    }
  };
  for (const { M, K, type, names } of matmulShapesOf(dims)) {
    for (const N of opts.batches) push(matmulWorkload(type, { M, N, K }, names.join(','), names.includes('qkv') ? qkvFusion(dims, N) : undefined));
  }
  // the fused feed-forward for decode batches, per distinct (gate|up, down) types of the layers (stacked
  // gate|up only, as the runtime fuses it), where a family implements that instance
  for (const t of layerTypesOf(dims)) {
    if (t.gate !== t.up) continue;
    const key = ffnInstanceKey(t.gate, t.down);
    if (!familiesForOp('ffn').some((f) => f.instances.some((i) => i.key === key))) continue;
    for (const N of opts.batches) if (N <= VEC_NMAX) push(ffnWorkload(key, { N, dim: dims.dim, hidden: dims.ffnDim, eps: FFN_TUNING_EPS }));
  }
  // attention + the O projection fused, for decode batches, per distinct Wo type where a family has the instance
  const oKeys = [...new Set(layerTypesOf(dims).map((t) => attentionOInstanceKey(t.o, dims.kvType)))].filter((key) =>
    familiesForOp('attention_o').some((f) => f.instances.some((i) => i.key === key) && f.supports({ ...attentionShapeAt(dims, 1, 0), dim: dims.dim }, f.instances[0])),
  );
  for (const b of opts.batches) {
    for (const d of opts.depths) {
      const hi = rangeOf(d, DEPTH_RANGES)[1];
      const decode = b <= DECODE_MAX_QUERIES;
      // (clamped to the bucket: a batch whose window ends past the bucket, e.g. 8 queries at 1023, is still selected by its depth)
      const depths = (decode && hi !== null && hi > d ? [d, hi] : [d]).map((at) => (decode ? Math.min(decodeAttentionDepth(at, b), hi ?? Infinity) : at));
      for (const at of depths) push(attentionWorkload(dims.kvType, attentionShapeAt(dims, b, at)));
      if (b <= DECODE_MAX_QUERIES) for (const key of oKeys) for (const at of depths) push(attentionOWorkload(key, { ...attentionShapeAt(dims, b, at), dim: dims.dim }));
    }
  }
  return out;
}

/**
 * The depth at which a decode attention call of `queries` queries at position `depth` is timed: the last position of
 * its replay window, ceil((depth + queries) / REPLAY_WINDOW) * REPLAY_WINDOW - queries (0 -> 255, 1023 -> 1023, 4096 ->
 * 4351 for one query), so the workload's KV length is the one the replayed step plans for. Window ends are
 * multiples of REPLAY_WINDOW, as the depth buckets' bounds plus one are, so for one query the depth stays in its
 * bucket (workloadsFor clamps larger batches to the bucket's end).
 */
export function decodeAttentionDepth(depth: number, queries: number): number {
  return Math.ceil((depth + queries) / REPLAY_WINDOW) * REPLAY_WINDOW - queries;
}

/**
 * The rope epilogue the runtime fuses into the QKV product of `dims` at batch N (adjacent-pair rope,
 * N <= VEC_NMAX as the runtime's ropeEpilogue, positions from the step buffer; a q8_0 / q4_0 cache with a head dim
 * that is a multiple of 64), else undefined.
 */
export function qkvFusion(dims: ModelDims, N: number): MatmulEpilogue | undefined {
  if (dims.rope?.mode !== 'adjacent' || N > VEC_NMAX || (isKvQuantType(dims.kvType) && dims.headDim % 64 !== 0)) return undefined; // matmul.vecq: quantized caches with head dims of whole 64-value groups
  const qRows = dims.heads * dims.headDim;
  const kvRows = dims.kvHeads * dims.headDim;
  return { rope: { qRows, kvRows, D: dims.headDim, base: dims.rope.base, pos0: 0, kvStride: KV_STRIDE_ALIGN, kvType: dims.kvType, dynamicPos: true } };
}

/** Llama 3.2 1B (HF config): handy for tests and the CLI. */
export const LLAMA_3_2_1B: ModelDims = {
  name: 'llama-3.2-1b',
  dim: 2048,
  layers: 16,
  heads: 32,
  kvHeads: 8,
  headDim: 64,
  ffnDim: 8192,
  vocab: 128256,
  weightType: 'f16',
  kvType: 'f16',
};
