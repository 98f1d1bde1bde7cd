/**
 * Synthetic llama GGUF models: real tensor names/shapes, seeded random weights, a real or synthetic vocabulary.
 * Streams tensor by tensor (and in chunks within a tensor) so an 8B f16 model (16 GB) never sits in memory.
 */
import * as fs from 'fs';
import * as os from 'os';
import { GgufFile } from './gguf/reader';
import { GgmlType, GgufMetaValue, GgufValueType, gv, numElements } from './gguf/types';
import { writeGguf } from './gguf/writer';
import { f32ToF16Bits } from './gguf/f16';
import { quantizeInto, rowBytes } from './gguf/quant';
import { SynthPool } from './synth-pool';
import { LlamaConfig, checkConfig, llamaGgufMetadata, llamaTensorShapes } from './model-config';

export interface SynthOptions {
  /** PRNG seed (default 1); equal seeds give byte-identical files. */
  seed?: number;
  /** GGUF to copy tokenizer.ggml.* from (e.g. ../shared/vocab/ggml-vocab-llama-bpe.gguf); used when it exists and its token count equals cfg.vocab. */
  vocabGguf?: string;
  /** general.name (default "synthetic"). */
  name?: string;
  /** weights standard deviation (default 0.02). */
  std?: number;
  /** Worker threads computing chunks (default: up to 16 for models of >= 64M elements, else 1); the file is the same for any count. */
  workers?: number;
}

/** Models with at least this many elements are synthesized on worker threads by default. */
const PARALLEL_MIN_ELEMS = 64 << 20;

const CHUNK = 1 << 22; // elements per chunk

/** Storage choices of synthModel: plain f32/f16, or a llama.cpp-style quantization mix. */
export type SynthType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q4_k_m';

/** Quantization mixes synthModel writes, named like llama-quantize's ftypes (lower case). */
export type SynthQuantMix = Exclude<SynthType, 'f32' | 'f16'>;

/**
 * general.file_type (enum llama_ftype) per synth type: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2,
 * MOSTLY_Q8_0 7, MOSTLY_Q4_K_S 14, MOSTLY_Q4_K_M 15.
 */
export const SYNTH_FILE_TYPE: Readonly<Record<SynthType, number>> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 14, q4_k_m: 15 };

/**
 * The ggml type llama.cpp's llama-quantize (src/llama-quant.cpp, llama_tensor_get_type, no imatrix, no
 * overrides, llama arch, dense, not the 70B special case) gives a llama tensor for `mix`:
 * - default type: q8_0 -> Q8_0, q4_0 -> Q4_0, q4_k / q4_k_m -> Q4_K;
 * - output.weight, and token_embd.weight when the model has no output.weight (tied): Q6_K, or Q8_0 when
 *   the default is Q8_0 or ne[0] is not a multiple of the default's block size;
 * - q4_k_m: attn_v.weight and ffn_down.weight of layer i get Q6_K when use_more_bits(i, layers):
 *   i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2;
 * - then rows (ne[0]) not a multiple of the type's block size fall back as llama.cpp does:
 *   Q4_K -> Q5_0, Q6_K -> Q8_0, then F16 if still incompatible.
 * Deliberate difference: llama.cpp's real Q4_K_S also puts Q5_K on attn_v of layers 0-3 and on ffn_down of
 * layers < n/8; `q4_k` here keeps those Q4_K (Q5_K is not implemented), so it is "Q4_K_S-like".
 * 1-D tensors (norms) stay F32. Throws when Q4_0/Q8_0 do not fit ne[0] (llama.cpp: "Unsupported tensor size").
 */
export function llamaQuantTensorType(mix: SynthQuantMix, name: string, ne: readonly number[], layers: number, tied: boolean): GgmlType {
  if (ne.length < 2) return GgmlType.F32;
  const def = mix === 'q8_0' ? GgmlType.Q8_0 : mix === 'q4_0' ? GgmlType.Q4_0 : GgmlType.Q4_K;
  const nx = ne[0];
  const block = (t: GgmlType) => ({ [GgmlType.Q8_0]: 32, [GgmlType.Q4_0]: 32, [GgmlType.Q5_0]: 32, [GgmlType.Q4_K]: 256, [GgmlType.Q6_K]: 256 } as Record<number, number>)[t];
  const useMoreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;
  const layer = /^blk\.(\d+)\./.exec(name);
  const il = layer ? Number(layer[1]) : -1;
  let t = def;
  if (name === 'output.weight' || (tied && name === 'token_embd.weight')) {
    if (nx % block(def) !== 0) t = GgmlType.Q8_0;
    else if (def !== GgmlType.Q8_0) t = GgmlType.Q6_K;
  } else if (name === 'token_embd.weight') {
    t = def;
  } else if (name.includes('attn_v.weight') || name.includes('ffn_down')) {
    if (mix === 'q4_k_m' && useMoreBits(il, layers)) t = GgmlType.Q6_K;
  }
  if (nx % block(t) !== 0) {
    if (t === GgmlType.Q4_K) t = GgmlType.Q5_0;
    else if (t === GgmlType.Q6_K) t = GgmlType.Q8_0;
    else throw new Error(`${name}: ne[0]=${nx} is not a multiple of ${block(t)}: llama.cpp cannot quantize it to ${mix}`);
    if (nx % block(t) !== 0) t = GgmlType.F16;
  }
  return t;
}

/** xorshift32 stream. */
function rng(seed: number) {
  let s = (seed | 0) || 0x9e3779b9;
  return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s >>> 0; };
}

/** 65536 samples of N(0, std) (Irwin-Hall of 12 uniforms), indexed by 16 random bits: cheap normal-ish sampling. */
function normalTable(seed: number, std: number): Float32Array {
  const r = rng(seed ^ 0x5bd1e995);
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) {
    let s = 0;
    for (let k = 0; k < 12; k++) s += r() / 4294967296;
    t[i] = (s - 6) * std;
  }
  return t;
}

/** The sampling tables of one (seed, std): matrix values, their f16 bits, and the norms' (std / 2). */
export interface SynthTables {
  table: Float32Array;
  table16: Uint16Array;
  normTable: Float32Array;
}

/** synthTables(seed, std): deterministic, so a worker rebuilds exactly the main thread's tables. */
export function synthTables(seed: number, std: number): SynthTables {
  const table = normalTable(seed, std);
  const table16 = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) table16[i] = f32ToF16Bits(table[i]);
  return { table, table16, normTable: normalTable(seed + 1, std / 2) };
}

/**
 * One chunk of a synthetic tensor: `elems` values (whole rows) from the xorshift32 stream `seed`, stored as
 * `type` (F32, F16 or a quantized ggml type, quantized with the reference quantizers); norm chunks draw from
 * the norm table around 1.
 */
export interface SynthChunkJob {
  type: GgmlType;
  rowLen: number;
  elems: number;
  seed: number;
  norm: boolean;
}

/** Bytes of a chunk job once stored. */
export const synthChunkBytes = (job: SynthChunkJob): number => (job.elems / job.rowLen) * rowBytes(job.type, job.rowLen);

/**
 * Compute a chunk (SynthChunkJob): the f32 values are the same for every storage type of the same seed, so a
 * quantized tensor holds exactly quantize(type, the f32 file's values).
 * @throws Error when a quantized chunk has an odd length or rows that are not whole blocks (rowBytes).
 */
export function synthChunk(job: SynthChunkJob, tables: SynthTables): Uint8Array {
  const r = rng(job.seed);
  const m = job.elems;
  if (job.type === GgmlType.F16) {
    const a = new Uint16Array(m);
    const t16 = tables.table16;
    for (let i = 0; i < m; i += 2) { const x = r(); a[i] = t16[x & 0xffff]; if (i + 1 < m) a[i + 1] = t16[x >>> 16]; }
    return new Uint8Array(a.buffer);
  }
  const table = job.norm ? tables.normTable : tables.table;
  const offset = job.norm ? 1 : 0;
  const a = new Float32Array(m);
  for (let i = 0; i < m; i += 2) { const x = r(); a[i] = table[x & 0xffff] + offset; if (i + 1 < m) a[i + 1] = table[x >>> 16] + offset; }
  if (job.type === GgmlType.F32) return new Uint8Array(a.buffer);
  if (m % 2 !== 0) throw new Error(`quantized synth chunk of ${m} elements (rows must have an even length)`);
  const out = new Uint8Array(synthChunkBytes(job));
  quantizeInto(job.type, a, out, 0);
  return out;
}

/**
 * The chunk jobs of one tensor of `n` elements in rows of `rowLen`: whole rows, at most CHUNK elements (one row
 * when a row is longer), chunk c seeded from (tensorSeed, c), so chunks can be computed in any order.
 */
export function synthChunkJobs(n: number, rowLen: number, type: GgmlType, tensorSeed: number, norm: boolean): SynthChunkJob[] {
  const rows = Math.max(1, Math.floor(CHUNK / rowLen));
  const jobs: SynthChunkJob[] = [];
  for (let done = 0, c = 0; done < n; done += rows * rowLen, c++) {
    const elems = Math.min(rows * rowLen, n - done);
    jobs.push({ type, rowLen, elems, seed: (Math.imul(tensorSeed ^ 0x27d4eb2f, 0x165667b1) + Math.imul(c + 1, 0x9e3779b1)) >>> 0, norm });
  }
  return jobs;
}

/**
 * A synthetic SentencePiece-style ("llama") vocabulary of exactly `n` tokens (n >= 259 + 96):
 * <unk>, <s>, </s>, byte tokens <0x00>..<0xFF>, U+2581 and printable ASCII, then U+2581-prefixed and
 * multi-letter pieces with decreasing scores. Usable by the SPM tokenizer.
 */
export function syntheticSpmVocab(n: number): Array<[string, GgufMetaValue]> {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [2, 3, 3];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  const seen = new Set(tokens);
  const add = (s: string) => { if (tokens.length < n && !seen.has(s)) { seen.add(s); tokens.push(s); types.push(1); } };
  const chars: string[] = [];
  for (let c = 0x21; c < 0x7f; c++) chars.push(String.fromCharCode(c));
  add('\u2581');
  for (const c of chars) add(c);
  for (const c of chars) add('\u2581' + c);
  const letters = 'etaoinshrdlcumwfgypbvkjxqz'.split('');
  let frontier = letters.slice();
  while (tokens.length < n) {
    const next: string[] = [];
    for (const p of frontier) for (const l of letters) { const s = p + l; next.push(s); add(s); add('\u2581' + s); if (tokens.length >= n) break; }
    frontier = next;
  }
  if (tokens.length !== n) throw new Error(`synthetic vocab: cannot build ${n} tokens (minimum ${tokens.length})`);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = types[i] === 1 ? -i : 0;
  return [
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.arr(GgufValueType.STRING, tokens)],
    ['tokenizer.ggml.scores', gv.arr(GgufValueType.FLOAT32, scores)],
    ['tokenizer.ggml.token_type', gv.arr(GgufValueType.INT32, Int32Array.from(types))],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
    ['tokenizer.ggml.unknown_token_id', gv.u32(0)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(true)],
  ];
}

function copiedVocab(path: string, vocab: number): Array<[string, GgufMetaValue]> | undefined {
  if (!fs.existsSync(path)) return undefined;
  const g = GgufFile.open(path);
  try {
    const toks = g.getArray('tokenizer.ggml.tokens');
    if (!toks || toks.length !== vocab) {
      throw new Error(`${path}: vocabulary has ${toks ? toks.length : 0} tokens, the model needs ${vocab}`);
    }
    return [...g.metadata].filter(([k]) => k.startsWith('tokenizer.ggml.'));
  } finally { g.close(); }
}

/**
 * Write a llama GGUF with random weights for `cfg` to `outPath` (atomic). Matrices ~ N(0, std) stored as
 * `type`: 'f32', 'f16', or a llama-quantize-style mix ('q8_0', 'q4_0', 'q4_k' (Q4_K_S-like), 'q4_k_m'),
 * per-tensor types from llamaQuantTensorType, quantized with ggml's reference quantizers from the same
 * values the 'f32' file would hold (seed for seed); general.file_type per SYNTH_FILE_TYPE, plus
 * general.quantization_version 2 for quantized mixes. Norm weights are 1 + small noise, always F32 (as
 * llama.cpp stores norms). Vocabulary: tokenizer.ggml.* copied from `opts.vocabGguf` when it exists and
 * matches cfg.vocab, else synthetic. Throws when a dim does not fit the mix's block sizes (see llamaQuantTensorType).
 */
export function synthModel(cfg: LlamaConfig, type: SynthType, outPath: string, opts: SynthOptions = {}): void {
  checkConfig(cfg, 'synthModel');
  if (!(type in SYNTH_FILE_TYPE)) throw new Error(`synthModel: unknown type ${type} (expected ${Object.keys(SYNTH_FILE_TYPE).join(', ')})`);
  const seed = opts.seed ?? 1;
  const std = opts.std ?? 0.02;
  const vocabMeta = (opts.vocabGguf && copiedVocab(opts.vocabGguf, cfg.vocab)) || syntheticSpmVocab(cfg.vocab);
  const meta = [...llamaGgufMetadata(cfg, opts.name ?? 'synthetic', SYNTH_FILE_TYPE[type]), ...vocabMeta];
  if (type !== 'f32' && type !== 'f16') meta.push(['general.quantization_version', gv.u32(2)]);
  const shapes = llamaTensorShapes(cfg).map((t, i) => {
    const isNorm = t.dims.length === 1;
    const tseed = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
    let ttype = isNorm || type === 'f32' ? GgmlType.F32 : GgmlType.F16;
    if (type !== 'f32' && type !== 'f16') ttype = llamaQuantTensorType(type, t.name, t.dims, cfg.layers, cfg.tiedEmbeddings);
    return { name: t.name, dims: t.dims, type: ttype, jobs: synthChunkJobs(numElements(t.dims), t.dims[0], ttype, tseed, isNorm) };
  });
  const allJobs = shapes.flatMap((t) => t.jobs);
  const totalElems = allJobs.reduce((s, j) => s + j.elems, 0);
  const workers = opts.workers ?? (totalElems >= PARALLEL_MIN_ELEMS ? Math.min(16, os.availableParallelism()) : 1);
  const tables = synthTables(seed, std);
  const pool = workers > 1 ? new SynthPool(workers, allJobs, { seed, std }) : null;
  try {
    let next = 0;
    const tensors = shapes.map((t) => ({
      name: t.name, dims: t.dims, type: t.type,
      data: function* () {
        for (const job of t.jobs) yield pool ? pool.take(next++) : synthChunk(job, tables);
      },
    }));
    writeGguf(outPath, { metadata: meta, tensors });
  } finally {
    pool?.close();
  }
}
