/**
 * Vocabulary shared by the tokenizers: token strings, scores, types and special ids from GGUF tokenizer.ggml.*,
 * special-token partitioning (llama.cpp tokenizer_st_partition) and a streaming UTF-8 decoder.
 */
import type { GgufFile } from '../gguf/reader';

/** llama.cpp token types (tokenizer.ggml.token_type). */
export enum TokenType { UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 }

/** Vocabulary data read from GGUF. `bytesKey` maps a piece's UTF-8 bytes (as a latin1 string) to its id. */
export class Vocab {
  readonly tokens: string[];
  readonly scores: Float32Array;
  readonly types: Int32Array;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  /** id by token text (first occurrence wins, like llama.cpp's token_to_id) */
  readonly idByText = new Map<string, number>();
  /** special tokens (CONTROL, USER_DEFINED, UNKNOWN) sorted by text length, longest first */
  readonly specials: number[];

  constructor(g: GgufFile, defaults: { bos: number; eos: number; unk: number; addBos: boolean; addSpacePrefix: boolean }) {
    const toks = g.getArray('tokenizer.ggml.tokens');
    if (!toks || !Array.isArray(toks) || typeof toks[0] !== 'string') throw new Error(`${g.path}: missing tokenizer.ggml.tokens (string array)`);
    this.tokens = toks as string[];
    const n = this.tokens.length;
    const sc = g.getArray('tokenizer.ggml.scores');
    this.scores = sc ? Float32Array.from(sc as ArrayLike<number>) : new Float32Array(n);
    const ty = g.getArray('tokenizer.ggml.token_type');
    this.types = ty ? Int32Array.from(ty as ArrayLike<number>) : new Int32Array(n).fill(TokenType.NORMAL);
    if (this.scores.length !== n || this.types.length !== n) throw new Error(`${g.path}: tokenizer.ggml.scores/token_type length differs from the ${n} tokens`);
    this.bos = g.getNumber('tokenizer.ggml.bos_token_id', defaults.bos);
    this.eos = g.getNumber('tokenizer.ggml.eos_token_id', defaults.eos);
    this.unk = g.getNumber('tokenizer.ggml.unknown_token_id', defaults.unk);
    this.addBos = g.getBool('tokenizer.ggml.add_bos_token', defaults.addBos);
    this.addEos = g.getBool('tokenizer.ggml.add_eos_token', false);
    this.addSpacePrefix = g.getBool('tokenizer.ggml.add_space_prefix', defaults.addSpacePrefix);
    for (let i = 0; i < n; i++) if (!this.idByText.has(this.tokens[i])) this.idByText.set(this.tokens[i], i);
    const sp: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = this.types[i];
      if (t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN) sp.push(i);
    }
    sp.sort((a, b) => this.tokens[b].length - this.tokens[a].length || a - b);
    this.specials = sp;
  }

  get size(): number { return this.tokens.length; }
}

/** A piece of input: raw text to tokenize, or an already-recognised special token id. */
export type Fragment = { text: string } | { id: number };

/**
 * Split `text` on special tokens (llama.cpp tokenizer_st_partition): USER_DEFINED always, CONTROL and
 * UNKNOWN only when `parseSpecial`. Longer special tokens are matched first. Empty text -> [].
 */
export function partitionSpecial(v: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text.length ? [{ text }] : [];
  for (const id of v.specials) {
    const t = v.types[id];
    if (!parseSpecial && (t === TokenType.CONTROL || t === TokenType.UNKNOWN)) continue;
    const s = v.tokens[id];
    if (!s.length) continue;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (!('text' in f) || !f.text.includes(s)) { next.push(f); continue; }
      const parts = f.text.split(s);
      parts.forEach((p, i) => {
        if (i > 0) next.push({ id });
        if (p.length) next.push({ text: p });
      });
    }
    frags = next;
  }
  return frags;
}

/**
 * Streaming detokenizer: push token byte pieces, get back only text made of complete UTF-8 sequences
 * (a character split across tokens is emitted once its last byte arrives). flush() emits what is left
 * (invalid/incomplete bytes become U+FFFD).
 */
export class Utf8Stream {
  private dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  push(bytes: Uint8Array): string { return this.dec.decode(bytes, { stream: true }); }
  flush(): string { return this.dec.decode(); }
}
