/**
 * Llama model configuration read from GGUF metadata (llama.* keys as llama.cpp writes them), plus the
 * expected tensor set and shapes, and validation of a GGUF's tensors against them.
 */
import type { GgufFile } from './gguf/reader';
import { GgufMetaValue, gv } from './gguf/types';

/** Hyper-parameters of a Llama-architecture model. Sizes in elements; ropeBase is theta; rmsEps absolute. */
export interface LlamaConfig {
  arch: 'llama';
  /** model width (llama.embedding_length) */
  dim: number;
  layers: number;
  /** query heads */
  heads: number;
  /** key/value heads (GQA) */
  kvHeads: number;
  /** per-head dimension (llama.rope.dimension_count / attention.key_length, default dim / heads) */
  headDim: number;
  /** FFN hidden size */
  ffnDim: number;
  vocab: number;
  contextLength: number;
  ropeBase: number;
  /** 'adjacent': rotate pairs (2i, 2i+1) (ggml "normal" mode, used by GGUF llama); 'neox': pairs (i, i + headDim/2) */
  ropeMode: 'adjacent' | 'neox';
  rmsEps: number;
  /** true when output.weight is absent and the classifier reuses token_embd.weight */
  tiedEmbeddings: boolean;
}

/** A tensor the llama architecture expects: ggml dims (ne[0] contiguous), and whether it may be absent. */
export interface ExpectedTensor { name: string; dims: number[]; optional?: boolean }

/**
 * The tensors of a llama model in ggml naming and dims order. Matrices are [in, out] (ne0 = in).
 * output.weight is listed only when the config is untied.
 */
export function llamaTensorShapes(c: LlamaConfig): ExpectedTensor[] {
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', dims: [c.dim, c.vocab] }];
  for (let l = 0; l < c.layers; l++) {
    const p = `blk.${l}.`;
    out.push(
      { name: p + 'attn_norm.weight', dims: [c.dim] },
      { name: p + 'attn_q.weight', dims: [c.dim, q] },
      { name: p + 'attn_k.weight', dims: [c.dim, kv] },
      { name: p + 'attn_v.weight', dims: [c.dim, kv] },
      { name: p + 'attn_output.weight', dims: [q, c.dim] },
      { name: p + 'ffn_norm.weight', dims: [c.dim] },
      { name: p + 'ffn_gate.weight', dims: [c.dim, c.ffnDim] },
      { name: p + 'ffn_up.weight', dims: [c.dim, c.ffnDim] },
      { name: p + 'ffn_down.weight', dims: [c.ffnDim, c.dim] },
    );
  }
  out.push({ name: 'output_norm.weight', dims: [c.dim] });
  if (!c.tiedEmbeddings) out.push({ name: 'output.weight', dims: [c.dim, c.vocab] });
  return out;
}

function vocabSize(g: GgufFile): number | undefined {
  const toks = g.getArray('tokenizer.ggml.tokens');
  if (toks) return toks.length;
  if (g.has('llama.vocab_size')) return g.getNumber('llama.vocab_size');
  const emb = g.tensorInfo('token_embd.weight');
  return emb && emb.ne.length === 2 ? emb.ne[1] : undefined;
}

/**
 * Read a LlamaConfig from GGUF metadata. Throws "unsupported architecture X (expected llama)" for other
 * architectures, and names the missing key when a required one is absent. When `validate` (default true),
 * also checks every expected tensor's presence and shape (see validateLlamaTensors).
 */
export function llamaConfigFromGguf(g: GgufFile, opts: { validate?: boolean } = {}): LlamaConfig {
  const arch = g.getString('general.architecture', '<none>');
  if (arch !== 'llama') throw new Error(`${g.path}: unsupported architecture ${arch} (expected llama)`);
  const dim = g.getNumber('llama.embedding_length');
  const heads = g.getNumber('llama.attention.head_count');
  const headDim = g.getNumber('llama.rope.dimension_count', g.getNumber('llama.attention.key_length', dim / heads));
  const vocab = vocabSize(g);
  if (vocab === undefined) throw new Error(`${g.path}: cannot determine the vocabulary size (no tokenizer.ggml.tokens, llama.vocab_size or token_embd.weight)`);
  const cfg: LlamaConfig = {
    arch: 'llama',
    dim,
    layers: g.getNumber('llama.block_count'),
    heads,
    kvHeads: g.getNumber('llama.attention.head_count_kv', heads),
    headDim,
    ffnDim: g.getNumber('llama.feed_forward_length'),
    vocab,
    contextLength: g.getNumber('llama.context_length', 2048),
    ropeBase: g.getNumber('llama.rope.freq_base', 10000),
    ropeMode: 'adjacent',
    rmsEps: g.getNumber('llama.attention.layer_norm_rms_epsilon', 1e-5),
    tiedEmbeddings: !g.tensorInfo('output.weight'),
  };
  checkConfig(cfg, g.path);
  if (opts.validate !== false) validateLlamaTensors(g, cfg);
  return cfg;
}

/** Sanity checks on hyper-parameters (positive integers, heads divisible by kvHeads). Throws naming `where`. */
export function checkConfig(c: LlamaConfig, where = 'config'): void {
  for (const k of ['dim', 'layers', 'heads', 'kvHeads', 'headDim', 'ffnDim', 'vocab', 'contextLength'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`${where}: bad ${k} ${c[k]} (expected a positive integer)`);
  }
  if (c.heads % c.kvHeads !== 0) throw new Error(`${where}: heads ${c.heads} is not a multiple of kvHeads ${c.kvHeads}`);
  if (c.headDim % 2 !== 0) throw new Error(`${where}: headDim ${c.headDim} must be even for RoPE`);
  if (!(c.ropeBase > 0) || !(c.rmsEps > 0)) throw new Error(`${where}: bad ropeBase ${c.ropeBase} or rmsEps ${c.rmsEps}`);
}

/**
 * Check that every tensor expected for `c` is present with the expected ggml dims.
 * Throws e.g. "model.gguf: tensor blk.0.attn_k.weight has shape [64, 32], expected [64, 64]".
 */
export function validateLlamaTensors(g: GgufFile, c: LlamaConfig): void {
  for (const e of llamaTensorShapes(c)) {
    const t = g.tensorInfo(e.name);
    if (!t) {
      if (e.optional) continue;
      throw new Error(`${g.path}: missing tensor ${e.name} (expected shape [${e.dims.join(', ')}])`);
    }
    const ne = t.ne.slice();
    while (ne.length > e.dims.length && ne[ne.length - 1] === 1) ne.pop();
    if (ne.length !== e.dims.length || ne.some((d, i) => d !== e.dims[i])) {
      throw new Error(`${g.path}: tensor ${e.name} has shape [${t.ne.join(', ')}], expected [${e.dims.join(', ')}]`);
    }
  }
}

/**
 * llama.* and general.* metadata for a config, as llama.cpp writes them (u32 counts, f32 eps/base).
 * `fileType`: general.file_type (0 = all F32, 1 = mostly F16).
 */
export function llamaGgufMetadata(c: LlamaConfig, name: string, fileType: number): Array<[string, GgufMetaValue]> {
  return [
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str(name)],
    ['general.file_type', gv.u32(fileType)],
    ['llama.vocab_size', gv.u32(c.vocab)],
    ['llama.context_length', gv.u32(c.contextLength)],
    ['llama.embedding_length', gv.u32(c.dim)],
    ['llama.block_count', gv.u32(c.layers)],
    ['llama.feed_forward_length', gv.u32(c.ffnDim)],
    ['llama.rope.dimension_count', gv.u32(c.headDim)],
    ['llama.attention.head_count', gv.u32(c.heads)],
    ['llama.attention.head_count_kv', gv.u32(c.kvHeads)],
    ['llama.attention.key_length', gv.u32(c.headDim)],
    ['llama.attention.value_length', gv.u32(c.headDim)],
    ['llama.rope.freq_base', gv.f32(c.ropeBase)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(c.rmsEps)],
  ];
}
