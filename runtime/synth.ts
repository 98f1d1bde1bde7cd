/**
 * Synthetic llama GGUF models: real tensor names/shapes, seeded random weights, a real or synthetic vocabulary.
 * Streams tensor by tensor (and in chunks within a tensor) so an 8B f16 model (16 GB) never sits in memory.
 */
import * as fs from 'fs';
import { GgufFile } from './gguf/reader';
import { GgmlType, GgufMetaValue, GgufValueType, gv, numElements } from './gguf/types';
import { writeGguf } from './gguf/writer';
import { f32ToF16Bits } from './gguf/f16';
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
}

const CHUNK = 1 << 22; // elements per chunk

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

function* chunks(n: number, type: 'f32' | 'f16', table: Float32Array, table16: Uint16Array, seed: number, offset: number): Generator<Uint8Array> {
  const r = rng(seed);
  for (let done = 0; done < n; done += CHUNK) {
    const m = Math.min(CHUNK, n - done);
    if (type === 'f32') {
      const a = new Float32Array(m);
      for (let i = 0; i < m; i += 2) { const x = r(); a[i] = table[x & 0xffff] + offset; if (i + 1 < m) a[i + 1] = table[x >>> 16] + offset; }
      yield new Uint8Array(a.buffer);
    } else {
      const a = new Uint16Array(m);
      for (let i = 0; i < m; i += 2) { const x = r(); a[i] = table16[x & 0xffff]; if (i + 1 < m) a[i + 1] = table16[x >>> 16]; }
      yield new Uint8Array(a.buffer);
    }
  }
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
 * `type` ('f32' or 'f16'); norm weights are 1 + small noise, always F32 (as llama.cpp stores norms).
 * Vocabulary: tokenizer.ggml.* copied from `opts.vocabGguf` when it exists and matches cfg.vocab, else synthetic.
 */
export function synthModel(cfg: LlamaConfig, type: 'f32' | 'f16', outPath: string, opts: SynthOptions = {}): void {
  checkConfig(cfg, 'synthModel');
  const seed = opts.seed ?? 1;
  const std = opts.std ?? 0.02;
  const table = normalTable(seed, std);
  const table16 = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) table16[i] = f32ToF16Bits(table[i]);
  const normTable = normalTable(seed + 1, std / 2);
  const vocabMeta = (opts.vocabGguf && copiedVocab(opts.vocabGguf, cfg.vocab)) || syntheticSpmVocab(cfg.vocab);
  const meta = [...llamaGgufMetadata(cfg, opts.name ?? 'synthetic', type === 'f16' ? 1 : 0), ...vocabMeta];
  const tensors = llamaTensorShapes(cfg).map((t, i) => {
    const isNorm = t.dims.length === 1;
    const ttype = isNorm || type === 'f32' ? GgmlType.F32 : GgmlType.F16;
    const tseed = (Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
    return {
      name: t.name, dims: t.dims, type: ttype,
      data: () => chunks(numElements(t.dims), ttype === GgmlType.F32 ? 'f32' : 'f16', isNorm ? normTable : table, table16, tseed, isNorm ? 1 : 0),
    };
  });
  writeGguf(outPath, { metadata: meta, tensors });
}
