/** Known model shapes as LlamaConfig records (hyper-parameters of the published models; test-tiny and test-k for tests). */
import type { LlamaConfig } from './model-config';

/** Llama 3.2 1B: tied embeddings, GQA 32/8, head dim 64. */
export const LLAMA_3_2_1B: LlamaConfig = {
  arch: 'llama', dim: 2048, layers: 16, heads: 32, kvHeads: 8, headDim: 64, ffnDim: 8192, vocab: 128256,
  contextLength: 131072, ropeBase: 500000, ropeMode: 'adjacent', rmsEps: 1e-5, tiedEmbeddings: true,
};

/** Llama 3.1 8B: untied output, GQA 32/8, head dim 128. */
export const LLAMA_3_1_8B: LlamaConfig = {
  arch: 'llama', dim: 4096, layers: 32, heads: 32, kvHeads: 8, headDim: 128, ffnDim: 14336, vocab: 128256,
  contextLength: 131072, ropeBase: 500000, ropeMode: 'adjacent', rmsEps: 1e-5, tiedEmbeddings: false,
};

/** A tiny llama for tests: dim 64, 2 layers, 4/2 heads (head dim 16), FFN 128, vocab 512. */
export const TEST_TINY: LlamaConfig = {
  arch: 'llama', dim: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, ffnDim: 128, vocab: 512,
  contextLength: 256, ropeBase: 10000, ropeMode: 'adjacent', rmsEps: 1e-5, tiedEmbeddings: false,
};

/**
 * A small llama whose matrices are whole 256-value K-quant super-blocks (dim 256, FFN 512), for Q4_K_M
 * tests: dim 256, 2 layers, 4/2 heads (head dim 64), FFN 512, vocab 512, tied embeddings.
 */
export const TEST_K: LlamaConfig = {
  arch: 'llama', dim: 256, layers: 2, heads: 4, kvHeads: 2, headDim: 64, ffnDim: 512, vocab: 512,
  contextLength: 128, ropeBase: 10000, ropeMode: 'adjacent', rmsEps: 1e-5, tiedEmbeddings: true,
};

export const PRESETS: Readonly<Record<string, LlamaConfig>> = {
  'llama-3.2-1b': LLAMA_3_2_1B,
  'llama-3.1-8b': LLAMA_3_1_8B,
  'test-tiny': TEST_TINY,
  'test-k': TEST_K,
};

/** Look up a preset by name; throws listing the known names. Returns a copy. */
export function preset(name: string): LlamaConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset ${name} (known: ${Object.keys(PRESETS).join(', ')})`);
  return { ...p };
}
