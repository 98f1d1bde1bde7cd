import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GgufFile, gv, writeGguf } from '../runtime/gguf';
import { tokenizerFromGguf, SpmTokenizer, BpeTokenizer } from '../runtime/tokenizer';
import { syntheticSpmVocab } from '../runtime/synth';

const VOCAB = path.resolve(__dirname, '../../../shared/vocab');
const skip = fs.existsSync(VOCAB) ? false : `${VOCAB} absent`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-tok-'));

/** llama.cpp test-tokenizer-0 format: each string is followed by "\n__ggml_vocab_test__\n"; .out has one line of ids per string. */
function vectors(name: string): Array<[string, number[]]> {
  const base = path.join(VOCAB, name);
  const inp = fs.readFileSync(base + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  assert.equal(inp.pop(), '', 'input ends with a separator');
  const out = fs.readFileSync(base + '.out', 'utf8').split('\n');
  if (out[out.length - 1] === '') out.pop();
  assert.equal(inp.length, out.length);
  return inp.map((s, i) => [s, out[i].trim() ? out[i].trim().split(/\s+/).map(Number) : []]);
}

function load(name: string) {
  const g = GgufFile.open(path.join(VOCAB, name));
  const t = tokenizerFromGguf(g);
  g.close();
  return t;
}

test('SPM tokenizer reproduces llama.cpp on every ggml-vocab-llama-spm vector', { skip }, () => {
  const tok = load('ggml-vocab-llama-spm.gguf');
  assert.ok(tok instanceof SpmTokenizer);
  const v = vectors('ggml-vocab-llama-spm.gguf');
  assert.equal(v.length, 46);
  for (const [s, ids] of v) {
    assert.deepEqual(tok.encode(s), ids, JSON.stringify(s));
    // decode drops the space prefix added by encode
    assert.equal(tok.decode(ids), s, JSON.stringify(s));
    assert.equal(tok.decode(ids, { keepLeadingSpace: true }), s.length ? ' ' + s : s);
  }
  assert.deepEqual(tok.encode('Hello', { addBos: true }), [1, 15043]);
});

test('BPE (llama-bpe) tokenizer reproduces llama.cpp on every ggml-vocab-llama-bpe vector', { skip }, () => {
  const tok = load('ggml-vocab-llama-bpe.gguf');
  assert.ok(tok instanceof BpeTokenizer);
  for (const [s, ids] of vectors('ggml-vocab-llama-bpe.gguf')) {
    assert.deepEqual(tok.encode(s), ids, JSON.stringify(s));
    assert.equal(tok.decode(ids), s);
  }
  // special tokens: parsed only on request
  const withSpecial = tok.encode('<|begin_of_text|>Hi', { parseSpecial: true });
  assert.equal(withSpecial[0], 128000);
  assert.ok(tok.encode('<|begin_of_text|>Hi').length > 2);
  assert.equal(tok.decode(withSpecial), 'Hi');
  assert.equal(tok.decode(withSpecial, { showSpecial: true }), '<|begin_of_text|>Hi');
});

test('streaming decoder emits only complete UTF-8 characters', { skip }, () => {
  const tok = load('ggml-vocab-llama-spm.gguf');
  const ids = tok.encode('a 🦙 b'); // the emoji falls back to 4 byte tokens
  const d = tok.decoder();
  const pieces = ids.map((id) => d.push(id));
  assert.ok(pieces.every((p) => !p.includes('\ufffd')));
  assert.equal(pieces.join('') + d.flush(), 'a 🦙 b');
  assert.ok(pieces.filter((p) => p === '').length >= 3, 'partial bytes held back');
  const bpe = load('ggml-vocab-llama-bpe.gguf');
  const d2 = bpe.decoder();
  const text = 'Привет, мир 🦙!';
  let s = '';
  for (const id of bpe.encode(text)) { const p = d2.push(id); assert.ok(!p.includes('\ufffd')); s += p; }
  assert.equal(s + d2.flush(), text);
});

test('synthetic SPM vocab round-trips through the SPM tokenizer', () => {
  const out = path.join(tmp, 'synvocab.gguf');
  writeGguf(out, { metadata: syntheticSpmVocab(512), tensors: [] });
  const g = GgufFile.open(out);
  const tok = tokenizerFromGguf(g);
  g.close();
  assert.equal(tok.size, 512);
  for (const s of ['hello world', 'The quick brown fox!', 'naïve ✓ 🦙', '']) assert.equal(tok.decode(tok.encode(s)), s);
});

test('tokenizerFromGguf rejects unknown models', () => {
  const out = path.join(tmp, 'wpm.gguf');
  writeGguf(out, { metadata: [['tokenizer.ggml.model', gv.str('bert')]], tensors: [] });
  const g = GgufFile.open(out);
  assert.throws(() => tokenizerFromGguf(g), /wpm\.gguf: unsupported tokenizer model bert \(expected llama or gpt2\)/);
  g.close();
});
