/**
 * Byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"), a port of llama.cpp's llm_tokenizer_bpe:
 * pre-tokenizer regex split, bytes mapped through GPT-2's bytes_to_unicode, merges applied by lowest rank
 * (ties to the leftmost), whole-word lookup first when the pre-tokenizer ignores merges (llama-bpe).
 * Supported tokenizer.ggml.pre: "llama-bpe" (Llama 3), "default"/"gpt2".
 */
import type { GgufFile } from '../gguf/reader';
import { TokenType, Utf8Stream, Vocab, partitionSpecial } from './vocab';
import { MaxHeap } from './heap';
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './types';

/** GPT-2 bytes_to_unicode: byte -> printable code point, and its inverse. */
function byteMaps(): { b2u: string[]; u2b: Map<string, number> } {
  const b2u: string[] = new Array(256);
  const u2b = new Map<string, number>();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const keep = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const cp = keep ? b : 256 + n++;
    b2u[b] = String.fromCodePoint(cp);
    u2b.set(b2u[b], b);
  }
  return { b2u, u2b };
}

const PRE: Record<string, { regex: RegExp; ignoreMerges: boolean }> = {
  'llama-bpe': {
    regex: /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu,
    ignoreMerges: true,
  },
  gpt2: {
    regex: /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)/gu,
    ignoreMerges: false,
  },
};
PRE['default'] = PRE['gpt2'];
PRE['llama3'] = PRE['llama-bpe'];

interface Sym { start: number; n: number; prev: number; next: number }
interface Bigram { left: number; right: number; rank: number; text: string }

/** Byte-level BPE tokenizer (tokenizer.ggml.model = gpt2) with merges ranks and a pre-tokenizer regex (llama-bpe). */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocab: Vocab;
  readonly pre: string;
  private ranks = new Map<string, number>();
  private b2u: string[];
  private u2b: Map<string, number>;
  private pieceBytes: Array<Uint8Array | undefined>;
  private preTok: { regex: RegExp; ignoreMerges: boolean };

  constructor(g: GgufFile) {
    this.vocab = new Vocab(g, { bos: 11, eos: 11, unk: -1, addBos: false, addSpacePrefix: false });
    this.pre = g.getString('tokenizer.ggml.pre', 'default');
    const p = PRE[this.pre];
    if (!p) throw new Error(`${g.path}: unsupported BPE pre-tokenizer ${this.pre} (supported: ${Object.keys(PRE).join(', ')})`);
    this.preTok = p;
    const merges = g.getArray('tokenizer.ggml.merges');
    if (!merges || !Array.isArray(merges)) throw new Error(`${g.path}: missing tokenizer.ggml.merges`);
    (merges as string[]).forEach((m, i) => {
      // merge "a b": key "a b" is unambiguous because mapped pieces never contain a raw space
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
    ({ b2u: this.b2u, u2b: this.u2b } = byteMaps());
    this.pieceBytes = new Array(this.vocab.size);
  }

  get size(): number { return this.vocab.size; }
  get bos(): number { return this.vocab.bos; }
  get eos(): number { return this.vocab.eos; }

  /** Token ids for `text` (no BOS unless opts.addBos). Special token text is parsed only with opts.parseSpecial. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.addBos) out.push(this.vocab.bos);
    for (const f of partitionSpecial(this.vocab, text, opts.parseSpecial ?? false)) {
      if ('id' in f) { out.push(f.id); continue; }
      for (const m of f.text.matchAll(this.preTok.regex)) this.encodeWord(m[0], out);
    }
    if (opts.addEos) out.push(this.vocab.eos);
    return out;
  }

  private encodeWord(word: string, out: number[]): void {
    const bytes = Buffer.from(word, 'utf8');
    let w = '';
    for (const b of bytes) w += this.b2u[b];
    const ids = this.vocab.idByText;
    if (this.preTok.ignoreMerges) {
      const id = ids.get(w);
      if (id !== undefined) { out.push(id); return; }
    }
    // every mapped char is one UTF-16 unit, so symbols index into w directly
    const syms: Sym[] = [];
    for (let i = 0; i < w.length; i++) syms.push({ start: i, n: 1, prev: i - 1, next: i + 1 < w.length ? i + 1 : -1 });
    const heap = new MaxHeap<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
    const add = (l: number, r: number) => {
      if (l === -1 || r === -1) return;
      const a = w.substr(syms[l].start, syms[l].n), b = w.substr(syms[r].start, syms[r].n);
      const rank = this.ranks.get(a + ' ' + b);
      if (rank === undefined) return;
      heap.push({ left: l, right: r, rank, text: a + b });
    };
    for (let i = 1; i < syms.length; i++) add(i - 1, i);
    while (heap.size) {
      const bg = heap.pop()!;
      const l = syms[bg.left], r = syms[bg.right];
      if (l.n === 0 || r.n === 0) continue;
      if (w.substr(l.start, l.n) + w.substr(r.start, r.n) !== bg.text) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = bg.left;
      add(l.prev, bg.left);
      add(bg.left, l.next);
    }
    for (let i = 0; i !== -1; i = syms[i].next) {
      const s = w.substr(syms[i].start, syms[i].n);
      const id = ids.get(s);
      if (id !== undefined) { out.push(id); continue; }
      for (const ch of s) { const b = ids.get(ch); if (b !== undefined) out.push(b); }
    }
  }

  /** Bytes a token decodes to: NORMAL pieces unmapped through bytes_to_unicode; USER_DEFINED raw; CONTROL empty. */
  tokenBytes(id: number): Uint8Array {
    if (!(id >= 0 && id < this.size)) throw new Error(`token id ${id} out of range (vocab ${this.size})`);
    let b = this.pieceBytes[id];
    if (!b) {
      const t = this.vocab.tokens[id];
      const ty = this.vocab.types[id];
      if (ty === TokenType.CONTROL) b = new Uint8Array(0);
      else if (ty === TokenType.USER_DEFINED) b = Buffer.from(t, 'utf8');
      else {
        const arr: number[] = [];
        for (const ch of t) {
          const x = this.u2b.get(ch);
          if (x !== undefined) arr.push(x); else arr.push(...Buffer.from(ch, 'utf8'));
        }
        b = Uint8Array.from(arr);
      }
      this.pieceBytes[id] = b;
    }
    return b;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    const d = this.decoder(opts);
    let s = '';
    for (const id of ids) s += d.push(id);
    return s + d.flush();
  }

  decoder(opts: DecodeOptions = {}): StreamDecoder {
    const u = new Utf8Stream();
    return {
      push: (id: number) => u.push(opts.showSpecial && this.vocab.types[id] === TokenType.CONTROL
        ? Buffer.from(this.vocab.tokens[id], 'utf8') : this.tokenBytes(id)),
      flush: () => u.flush(),
    };
  }
}
