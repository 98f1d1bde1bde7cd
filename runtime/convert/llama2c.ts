/**
 * Convert a llama2.c checkpoint (legacy format: 7 int32 header + float32 weights) and its tokenizer.bin
 * to a llama GGUF. llama2.c's RoPE rotates adjacent pairs (ggml "normal" mode), so no wq/wk permutation.
 * Format: ../shared/models/README.md (llama2.c run.c).
 */
import * as fs from 'fs';
import { GgmlType, GgufMetaValue, GgufValueType, gv } from '../gguf/types';
import { writeGguf, GgufWriteTensor } from '../gguf/writer';
import { f32ToF16Bits } from '../gguf/f16';
import { LlamaConfig, checkConfig, llamaGgufMetadata } from '../model-config';

/** llama2.c checkpoint header (7 int32). */
export interface Llama2cHeader {
  dim: number; hiddenDim: number; nLayers: number; nHeads: number; nKvHeads: number;
  /** absolute vocab size */
  vocabSize: number;
  seqLen: number;
  /** true when the header's vocab is positive: classifier = token embedding */
  sharedClassifier: boolean;
}

/** Parse and check a llama2.c header; throws naming the file and the bad field. */
export function readLlama2cHeader(buf: Uint8Array, file: string): Llama2cHeader {
  if (buf.length < 28) throw new Error(`${file}: truncated llama2.c checkpoint (${buf.length} bytes, the header alone needs 28)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, 28);
  const v = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = v;
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  v.forEach((x, i) => {
    if (i !== 5 && x <= 0) throw new Error(`${file}: bad llama2.c header: ${names[i]} = ${x} (expected > 0)`);
    if (Math.abs(x) > 1 << 24) throw new Error(`${file}: bad llama2.c header: ${names[i]} = ${x} is implausibly large (not a llama2.c checkpoint?)`);
  });
  if (vocab === 0) throw new Error(`${file}: bad llama2.c header: vocab_size = 0`);
  if (dim % nHeads !== 0) throw new Error(`${file}: bad llama2.c header: dim ${dim} not divisible by n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) throw new Error(`${file}: bad llama2.c header: n_heads ${nHeads} not a multiple of n_kv_heads ${nKvHeads}`);
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
}

/** A llama2.c tokenizer.bin: pieces as stored (spaces, not U+2581) and scores. */
export interface Llama2cTokenizer { maxTokenLength: number; pieces: Buffer[]; scores: Float32Array }

/** Read a llama2.c tokenizer.bin holding `vocab` entries; throws on truncation. */
export function readLlama2cTokenizer(path: string, vocab: number): Llama2cTokenizer {
  const b = fs.readFileSync(path);
  if (b.length < 4) throw new Error(`${path}: truncated llama2.c tokenizer (${b.length} bytes)`);
  const maxTokenLength = b.readInt32LE(0);
  const pieces: Buffer[] = [];
  const scores = new Float32Array(vocab);
  let o = 4;
  for (let i = 0; i < vocab; i++) {
    if (o + 8 > b.length) throw new Error(`${path}: truncated llama2.c tokenizer: token ${i} of ${vocab} starts past the end (${b.length} bytes)`);
    scores[i] = b.readFloatLE(o);
    const len = b.readInt32LE(o + 4);
    if (len < 0 || o + 8 + len > b.length) throw new Error(`${path}: truncated llama2.c tokenizer: token ${i} length ${len} runs past the end (${b.length} bytes)`);
    pieces.push(b.subarray(o + 8, o + 8 + len));
    o += 8 + len;
  }
  return { maxTokenLength, pieces, scores };
}

/** GGUF tokenizer metadata (tokenizer.ggml.model "llama") from a llama2.c tokenizer. */
export function llama2cVocabMetadata(tok: Llama2cTokenizer): Array<[string, GgufMetaValue]> {
  const tokens: string[] = [];
  const types = new Int32Array(tok.pieces.length);
  tok.pieces.forEach((p, i) => {
    let s = p.toString('utf8');
    if (i === 0) { types[i] = 2; s = '<unk>'; }
    else if (i === 1) { types[i] = 3; s = '<s>'; }
    else if (i === 2) { types[i] = 3; s = '</s>'; }
    else if (/^<0x[0-9A-F]{2}>$/.test(s)) types[i] = 6;
    else { types[i] = 1; s = s.replace(/ /g, '\u2581'); }
    tokens.push(s);
  });
  return [
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.arr(GgufValueType.STRING, tokens)],
    ['tokenizer.ggml.scores', gv.arr(GgufValueType.FLOAT32, tok.scores)],
    ['tokenizer.ggml.token_type', gv.arr(GgufValueType.INT32, types)],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
    ['tokenizer.ggml.unknown_token_id', gv.u32(0)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(true)],
    ['tokenizer.ggml.add_bos_token', gv.bool(true)],
    ['tokenizer.ggml.add_eos_token', gv.bool(false)],
  ];
}

export interface Llama2cConvertOptions {
  /** store matrices as F16 (norms stay F32); default F32 */
  f16?: boolean;
  /** general.name (default: checkpoint file name) */
  name?: string;
}

/**
 * Convert `checkpointPath` + `tokenizerPath` to a GGUF at `outPath` (atomic). Returns the LlamaConfig.
 * Matrices (row-major [out, in] in llama2.c) become ggml dims [in, out] with no data reordering.
 * Throws on bad header values, a tokenizer with the wrong count, or a file size other than expected
 * (the message gives the expected size).
 */
export function convertLlama2c(checkpointPath: string, tokenizerPath: string, outPath: string, opts: Llama2cConvertOptions = {}): LlamaConfig {
  const fd = fs.openSync(checkpointPath, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const hb = Buffer.alloc(Math.min(28, size));
    fs.readSync(fd, hb, 0, hb.length, 0);
    const h = readLlama2cHeader(hb, checkpointPath);
    const headDim = h.dim / h.nHeads;
    const kvDim = h.nKvHeads * headDim;
    const { dim, hiddenDim: hd, nLayers: L, vocabSize: V } = h;
    // [name-in-file, per-layer count of floats, ggml dims (or undefined for skipped)]
    const sections: Array<{ key: string; floats: number; layers: number; dims?: number[] }> = [
      { key: 'token_embd', floats: V * dim, layers: 0, dims: [dim, V] },
      { key: 'attn_norm', floats: dim, layers: L, dims: [dim] },
      { key: 'attn_q', floats: dim * dim, layers: L, dims: [dim, dim] },
      { key: 'attn_k', floats: kvDim * dim, layers: L, dims: [dim, kvDim] },
      { key: 'attn_v', floats: kvDim * dim, layers: L, dims: [dim, kvDim] },
      { key: 'attn_output', floats: dim * dim, layers: L, dims: [dim, dim] },
      { key: 'ffn_norm', floats: dim, layers: L, dims: [dim] },
      { key: 'ffn_gate', floats: hd * dim, layers: L, dims: [dim, hd] },
      { key: 'ffn_down', floats: dim * hd, layers: L, dims: [hd, dim] },
      { key: 'ffn_up', floats: hd * dim, layers: L, dims: [dim, hd] },
      { key: 'output_norm', floats: dim, layers: 0, dims: [dim] },
      { key: 'rope_tables', floats: h.seqLen * headDim, layers: 0 }, // freq_cis_real + imag (unused)
    ];
    if (!h.sharedClassifier) sections.push({ key: 'output', floats: V * dim, layers: 0, dims: [dim, V] });
    const expected = 28 + 4 * sections.reduce((a, s) => a + s.floats * Math.max(1, s.layers), 0);
    if (size !== expected) {
      const what = size < expected ? 'truncated llama2.c checkpoint' : 'llama2.c checkpoint has trailing bytes';
      throw new Error(`${checkpointPath}: ${what}: ${size} bytes, expected ${expected} for dim ${dim}, hidden ${hd}, ${L} layers, ${h.nHeads}/${h.nKvHeads} heads, vocab ${V}, seq_len ${h.seqLen}, ${h.sharedClassifier ? 'shared' : 'separate'} classifier`);
    }
    const cfg: LlamaConfig = {
      arch: 'llama', dim, layers: L, heads: h.nHeads, kvHeads: h.nKvHeads, headDim, ffnDim: hd, vocab: V,
      contextLength: h.seqLen, ropeBase: 10000, ropeMode: 'adjacent', rmsEps: 1e-5, tiedEmbeddings: h.sharedClassifier,
    };
    checkConfig(cfg, checkpointPath);
    const tok = readLlama2cTokenizer(tokenizerPath, V);

    const readF32 = (offset: number, n: number): Float32Array => {
      const b = new Uint8Array(n * 4);
      fs.readSync(fd, b, 0, b.length, offset);
      return new Float32Array(b.buffer);
    };
    const tensors: GgufWriteTensor[] = [];
    let off = 28;
    for (const s of sections) {
      const count = Math.max(1, s.layers);
      for (let l = 0; l < count; l++) {
        const at = off;
        off += s.floats * 4;
        if (!s.dims) continue;
        const name = s.layers ? `blk.${l}.${s.key}.weight` : `${s.key}.weight`;
        const matrix = s.dims.length === 2;
        const type = opts.f16 && matrix ? GgmlType.F16 : GgmlType.F32;
        tensors.push({
          name, dims: s.dims, type,
          data: () => {
            const x = readF32(at, s.floats);
            if (type === GgmlType.F32) return new Uint8Array(x.buffer);
            const o = new Uint16Array(x.length);
            for (let i = 0; i < x.length; i++) o[i] = f32ToF16Bits(x[i]);
            return new Uint8Array(o.buffer);
          },
        });
      }
    }
    // ggml order: token_embd, blocks in layer order, output_norm, output
    const order = (n: string) => n === 'token_embd.weight' ? [0, 0] : n.startsWith('blk.') ? [1, Number(n.split('.')[1])] : n === 'output_norm.weight' ? [2, 0] : [3, 0];
    tensors.sort((a, b) => { const x = order(a.name), y = order(b.name); return x[0] - y[0] || x[1] - y[1]; });
    const name = opts.name ?? checkpointPath.split(/[\\/]/).pop()!.replace(/\.bin$/, '');
    writeGguf(outPath, {
      metadata: [...llamaGgufMetadata(cfg, name, opts.f16 ? 1 : 0), ...llama2cVocabMetadata(tok)],
      tensors,
    });
    return cfg;
  } finally {
    fs.closeSync(fd);
  }
}
