/**
 * SentencePiece-BPE tokenizer (tokenizer.ggml.model = "llama"), a port of llama.cpp's llm_tokenizer_spm:
 * spaces escaped as U+2581, optional space prefix, UTF-8 characters merged by highest piece score
 * (priority queue, ties to the leftmost), resegment of unknown merges, byte fallback to <0xNN> tokens.
 */
import type { GgufFile } from '../gguf/reader';
import { Fragment, TokenType, Utf8Stream, Vocab, partitionSpecial } from './vocab';
import { MaxHeap } from './heap';
import type { EncodeOptions, DecodeOptions, StreamDecoder, Tokenizer } from './types';

interface Sym { start: number; n: number; prev: number; next: number }
interface Bigram { left: number; right: number; score: number; size: number }

const utf8Len = (b: number) => [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4][b >> 4];

/** SentencePiece-BPE tokenizer (tokenizer.ggml.model = llama): score-driven merges with byte fallback, as llama.cpp's llm_tokenizer_spm. */
export class SpmTokenizer implements Tokenizer {
  readonly kind = 'llama';
  readonly vocab: Vocab;
  /** id by piece bytes (latin1 string of the UTF-8 bytes) */
  private idByBytes = new Map<string, number>();
  private byteIds = new Int32Array(256).fill(-1);
  private pieceBytes: Uint8Array[];

  constructor(g: GgufFile) {
    this.vocab = new Vocab(g, { bos: 1, eos: 2, unk: 0, addBos: true, addSpacePrefix: true });
    const v = this.vocab;
    v.tokens.forEach((t, i) => {
      const k = Buffer.from(t, 'utf8').toString('latin1');
      if (!this.idByBytes.has(k)) this.idByBytes.set(k, i);
    });
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      const id = v.idByText.get(hex) ?? this.idByBytes.get(String.fromCharCode(b));
      if (id !== undefined) this.byteIds[b] = id;
    }
    this.pieceBytes = v.tokens.map((t, i) => {
      const ty = v.types[i];
      if (ty === TokenType.BYTE) return Uint8Array.of(parseInt(t.slice(3, 5), 16));
      if (ty === TokenType.UNKNOWN) return Buffer.from('\u2585', 'utf8');
      if (ty === TokenType.CONTROL) return new Uint8Array(0);
      return Buffer.from(t.replace(/\u2581/g, ' '), 'utf8');
    });
  }

  get size(): number { return this.vocab.size; }
  get bos(): number { return this.vocab.bos; }
  get eos(): number { return this.vocab.eos; }

  /** Token ids for `text` (no BOS unless opts.addBos). Special token text is parsed only with opts.parseSpecial. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const v = this.vocab;
    const out: number[] = [];
    let prevSpecial = true;
    if (opts.addBos ?? false) out.push(v.bos);
    for (const f of partitionSpecial(v, text, opts.parseSpecial ?? false) as Fragment[]) {
      if ('id' in f) { out.push(f.id); prevSpecial = true; continue; }
      let s = f.text;
      if (v.addSpacePrefix && prevSpecial) s = ' ' + s;
      this.encodeRaw(Buffer.from(s.replace(/ /g, '\u2581'), 'utf8'), out);
      prevSpecial = false;
    }
    if (opts.addEos) out.push(v.eos);
    return out;
  }

  /** llm_tokenizer_spm_session::tokenize on escaped UTF-8 bytes. */
  private encodeRaw(text: Buffer, out: number[]): void {
    if (!text.length) return;
    const syms: Sym[] = [];
    for (let off = 0, i = 0; off < text.length; i++) {
      const n = Math.min(utf8Len(text[off]), text.length - off);
      syms.push({ start: off, n, prev: i - 1, next: off + n === text.length ? -1 : i + 1 });
      off += n;
    }
    const heap = new MaxHeap<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const revMerge = new Map<string, [number, number]>();
    const key = (start: number, n: number) => text.toString('latin1', start, start + n);
    const tryAdd = (left: number, right: number) => {
      if (left === -1 || right === -1) return;
      const k = key(syms[left].start, syms[left].n + syms[right].n);
      const id = this.idByBytes.get(k);
      if (id === undefined) return;
      heap.push({ left, right, score: this.vocab.scores[id], size: k.length });
      revMerge.set(k, [left, right]);
    };
    for (let i = 1; i < syms.length; i++) tryAdd(i - 1, i);
    while (heap.size) {
      const bg = heap.pop()!;
      const l = syms[bg.left], r = syms[bg.right];
      if (l.n === 0 || r.n === 0 || l.n + r.n !== bg.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = bg.left;
      tryAdd(l.prev, bg.left);
      tryAdd(bg.left, l.next);
    }
    const resegment = (s: Sym) => {
      const k = key(s.start, s.n);
      const id = this.idByBytes.get(k);
      if (id !== undefined) { out.push(id); return; }
      const p = revMerge.get(k);
      if (!p) {
        for (let j = 0; j < s.n; j++) {
          const b = text[s.start + j];
          const bid = this.byteIds[b];
          if (bid < 0) throw new Error(`spm tokenizer: no byte token for 0x${b.toString(16)}`);
          out.push(bid);
        }
        return;
      }
      resegment(syms[p[0]]);
      resegment(syms[p[1]]);
    };
    for (let i = 0; i !== -1; i = syms[i].next) resegment(syms[i]);
  }

  /** Bytes a token decodes to (U+2581 -> space, byte tokens -> that byte, control -> empty, unknown -> U+2585). */
  tokenBytes(id: number): Uint8Array {
    const b = this.pieceBytes[id];
    if (!b) throw new Error(`token id ${id} out of range (vocab ${this.size})`);
    return b;
  }

  /** Text for ids; drops the first token's leading space when add_space_prefix (opts.keepLeadingSpace to keep it). */
  decode(ids: number[], opts: DecodeOptions = {}): string {
    const d = this.decoder(opts);
    let s = '';
    for (const id of ids) s += d.push(id);
    return s + d.flush();
  }

  /** Streaming decoder: push(id) returns newly complete text. */
  decoder(opts: DecodeOptions = {}): StreamDecoder {
    const u = new Utf8Stream();
    let strip = this.vocab.addSpacePrefix && !opts.keepLeadingSpace;
    return {
      push: (id: number) => {
        let b = this.tokenBytes(id);
        if (opts.showSpecial && this.vocab.types[id] === TokenType.CONTROL) b = Buffer.from(this.vocab.tokens[id], 'utf8');
        if (strip && b.length) { if (b[0] === 0x20) b = b.subarray(1); strip = false; }
        return u.push(b);
      },
      flush: () => u.flush(),
    };
  }
}
