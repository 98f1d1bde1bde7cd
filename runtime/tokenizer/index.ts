/** Tokenizers built from GGUF tokenizer.ggml.* metadata. */
import type { GgufFile } from '../gguf/reader';
import { SpmTokenizer } from './spm';
import { BpeTokenizer } from './bpe';
import type { Tokenizer } from './types';

export * from './types';
export { SpmTokenizer } from './spm';
export { BpeTokenizer } from './bpe';
export { Vocab, TokenType, Utf8Stream } from './vocab';

/**
 * The tokenizer for a GGUF: "llama" -> SpmTokenizer, "gpt2" -> BpeTokenizer (pre-tokenizers: llama-bpe).
 * Throws naming the file and the model for anything else.
 */
export function tokenizerFromGguf(g: GgufFile): Tokenizer {
  const model = g.getString('tokenizer.ggml.model', '<none>');
  switch (model) {
    case 'llama': return new SpmTokenizer(g);
    case 'gpt2': return new BpeTokenizer(g);
    default: throw new Error(`${g.path}: unsupported tokenizer model ${model} (expected llama or gpt2)`);
  }
}
