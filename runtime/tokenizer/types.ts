/** Tokenizer interface shared by the SPM ("llama") and byte-level BPE ("gpt2") tokenizers. */

export interface EncodeOptions {
  /** prepend BOS (default false) */
  addBos?: boolean;
  /** append EOS (default false) */
  addEos?: boolean;
  /** recognise CONTROL tokens (e.g. "<|eot_id|>") written in the text (default false; USER_DEFINED always are) */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** SPM: keep the leading space of the first token (default: dropped when add_space_prefix) */
  keepLeadingSpace?: boolean;
  /** render CONTROL tokens as their text (default: empty) */
  showSpecial?: boolean;
}

/** Streaming detokenizer: push(id) returns the text completed by that token (complete UTF-8 only). */
export interface StreamDecoder { push(id: number): string; flush(): string }

export interface Tokenizer {
  /** tokenizer.ggml.model value this implements */
  readonly kind: string;
  readonly size: number;
  readonly bos: number;
  readonly eos: number;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: number[], opts?: DecodeOptions): string;
  decoder(opts?: DecodeOptions): StreamDecoder;
  /** bytes a token contributes to decoded text */
  tokenBytes(id: number): Uint8Array;
}
