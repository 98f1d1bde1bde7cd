import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GgufFile, GgmlType, gv, writeGguf, numElements } from '../runtime/gguf';
import { convertLlama2c } from '../runtime/convert/llama2c';
import { llamaConfigFromGguf, llamaGgufMetadata, llamaTensorShapes, LlamaConfig } from '../runtime/model-config';
import { PRESETS, TEST_TINY, LLAMA_3_2_1B, LLAMA_3_1_8B, preset } from '../runtime/presets';
import { synthModel } from '../runtime/synth';
import { tokenizerFromGguf } from '../runtime/tokenizer';

const MODELS = path.resolve(__dirname, '../../../shared/models');
const CKPT = path.join(MODELS, 'aidreams260K.bin');
const TOK = path.join(MODELS, 'tok512.bin');
const skip = fs.existsSync(CKPT) && fs.existsSync(TOK) ? false : `${MODELS} absent`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-conv-'));

test('llama2.c aidreams260K -> GGUF: config, tensor shapes, data', { skip }, () => {
  const out = path.join(tmp, 'aidreams.gguf');
  const cfg = convertLlama2c(CKPT, TOK, out);
  const g = GgufFile.open(out);
  const read = llamaConfigFromGguf(g);
  const expected: LlamaConfig = {
    arch: 'llama', dim: 64, layers: 4, heads: 4, kvHeads: 4, headDim: 16, ffnDim: 172, vocab: 512, contextLength: 128,
    ropeBase: 10000, ropeMode: 'adjacent', rmsEps: read.rmsEps, tiedEmbeddings: true,
  };
  assert.deepEqual(read, expected);
  assert.deepEqual({ ...cfg, rmsEps: read.rmsEps }, expected);
  assert.ok(Math.abs(read.rmsEps - 1e-5) < 1e-10);
  assert.equal(g.tensors.length, 2 + 4 * 9);
  assert.equal(g.tensorInfo('output.weight'), undefined);
  assert.deepEqual(g.tensorInfo('token_embd.weight')!.ne, [64, 512]);
  assert.deepEqual(g.tensorInfo('blk.3.ffn_down.weight')!.ne, [172, 64]);
  assert.deepEqual(g.tensorInfo('blk.0.ffn_gate.weight')!.ne, [64, 172]);
  // data: first floats of the checkpoint's token embedding and layer-0 wq (row-major [out, in] = ggml [in, out])
  const raw = fs.readFileSync(CKPT);
  const f = (i: number) => raw.readFloatLE(28 + 4 * i);
  const emb = g.tensorF32('token_embd.weight');
  assert.equal(emb[0], f(0));
  assert.equal(emb[64 * 511 + 63], f(64 * 511 + 63));
  const wq0 = 512 * 64 + 4 * 64;
  assert.equal(g.tensorF32('blk.0.attn_q.weight')[5], f(wq0 + 5));
  const rmsFinal = 512 * 64 + 4 * 64 + 4 * 4 * 64 * 64 + 4 * 64 + 3 * 4 * 172 * 64;
  assert.equal(g.tensorF32('output_norm.weight')[1], f(rmsFinal + 1));
  assert.equal(g.getString('tokenizer.ggml.model'), 'llama');
  const toks = g.getArray('tokenizer.ggml.tokens') as string[];
  assert.deepEqual(toks.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
  assert.deepEqual(Array.from(g.getArray('tokenizer.ggml.token_type') as Int32Array).slice(0, 5), [2, 3, 3, 6, 6]);
  assert.equal(toks[262], '\u2581a');
  assert.equal(g.getBool('tokenizer.ggml.add_space_prefix'), true);
  g.close();

  const out16 = path.join(tmp, 'aidreams16.gguf');
  convertLlama2c(CKPT, TOK, out16, { f16: true });
  const h = GgufFile.open(out16);
  assert.equal(h.tensorInfo('blk.0.attn_q.weight')!.type, GgmlType.F16);
  assert.equal(h.tensorInfo('blk.0.attn_norm.weight')!.type, GgmlType.F32);
  assert.ok(Math.abs(h.tensorF32('blk.0.attn_q.weight')[5] - f(wq0 + 5)) < 1e-3);
  h.close();
});

/** llama2.c run.c encode(): space prefix, char lookup with byte fallback (id byte+3), greedy best-score merges. */
function llama2cEncode(pieces: string[], scores: Float32Array, text: string): number[] {
  const lookup = new Map<string, number>();
  pieces.forEach((p, i) => { if (!lookup.has(p)) lookup.set(p, i); });
  const toks: number[] = [];
  if (text.length) toks.push(lookup.get(' ')!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) toks.push(id); else for (const b of Buffer.from(ch, 'utf8')) toks.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < toks.length; i++) {
      const id = lookup.get(pieces[toks[i]] + pieces[toks[i + 1]]);
      if (id !== undefined && scores[id] > best) { best = scores[id]; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    toks.splice(bestIdx, 2, bestId);
  }
  return toks;
}

test('SPM tokenizer on converted tok512 matches llama2.c encoding', { skip }, () => {
  const out = path.join(tmp, 'aidreams-tok.gguf');
  convertLlama2c(CKPT, TOK, out);
  const g = GgufFile.open(out);
  const tok = tokenizerFromGguf(g);
  const pieces = (g.getArray('tokenizer.ggml.tokens') as string[]).map((t, i) => i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n' : t.replace(/\u2581/g, ' '));
  const scores = g.getArray('tokenizer.ggml.scores') as Float32Array;
  g.close();
  for (const s of ['Once upon a time, the AI dreamed.', 'I dream of electric sheep', 'hello  world\n', 'naïve café 🦙', 'x', '']) {
    assert.deepEqual(tok.encode(s), llama2cEncode(pieces, scores, s), JSON.stringify(s));
    assert.equal(tok.decode(tok.encode(s)), s);
  }
});

test('llama2.c conversion errors: truncated file, bad header', { skip }, () => {
  const raw = fs.readFileSync(CKPT);
  const cut = path.join(tmp, 'cut.bin');
  fs.writeFileSync(cut, raw.subarray(0, raw.length - 100));
  assert.throws(() => convertLlama2c(cut, TOK, path.join(tmp, 'x.gguf')), new RegExp(`cut\\.bin: truncated llama2\\.c checkpoint: ${raw.length - 100} bytes, expected ${raw.length}`));
  const bad = Buffer.from(raw); bad.writeInt32LE(0, 12);
  fs.writeFileSync(path.join(tmp, 'bad.bin'), bad);
  assert.throws(() => convertLlama2c(path.join(tmp, 'bad.bin'), TOK, path.join(tmp, 'x.gguf')), /bad llama2\.c header: n_heads = 0/);
  fs.writeFileSync(path.join(tmp, 'tiny.bin'), raw.subarray(0, 10));
  assert.throws(() => convertLlama2c(path.join(tmp, 'tiny.bin'), TOK, path.join(tmp, 'x.gguf')), /truncated llama2\.c checkpoint \(10 bytes/);
  assert.ok(!fs.existsSync(path.join(tmp, 'x.gguf')));
});

test('presets', () => {
  assert.deepEqual(Object.keys(PRESETS).sort(), ['llama-3.1-8b', 'llama-3.2-1b', 'test-k', 'test-tiny']);
  const params = (c: LlamaConfig) => llamaTensorShapes(c).reduce((a, t) => a + numElements(t.dims), 0);
  assert.ok(Math.abs(params(LLAMA_3_2_1B) / 1.2358e9 - 1) < 0.01, `1B params ${params(LLAMA_3_2_1B)}`);
  assert.ok(Math.abs(params(LLAMA_3_1_8B) / 8.03e9 - 1) < 0.01, `8B params ${params(LLAMA_3_1_8B)}`);
  assert.equal(preset('test-tiny').dim, 64);
  assert.throws(() => preset('gpt-5'), /unknown preset gpt-5/);
});

test('synth test-tiny: round trip, deterministic, statistics', () => {
  const a = path.join(tmp, 'tiny-a.gguf'), b = path.join(tmp, 'tiny-b.gguf'), c = path.join(tmp, 'tiny-c.gguf');
  synthModel(TEST_TINY, 'f16', a, { seed: 7 });
  synthModel(TEST_TINY, 'f16', b, { seed: 7 });
  synthModel(TEST_TINY, 'f32', c, { seed: 8 });
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'same seed, same bytes');
  // worker threads compute the chunks: the same file for any thread count, quantized mixes too
  for (const type of ['f16', 'q4_k_m'] as const) {
    const one = path.join(tmp, `tiny-${type}-1.gguf`), three = path.join(tmp, `tiny-${type}-3.gguf`);
    synthModel(TEST_TINY, type, one, { seed: 7, workers: 1 });
    synthModel(TEST_TINY, type, three, { seed: 7, workers: 3 });
    assert.ok(fs.readFileSync(one).equals(fs.readFileSync(three)), `${type}: 1 and 3 synth threads, same bytes`);
  }
  const g = GgufFile.open(a);
  assert.deepEqual(llamaConfigFromGguf(g), { ...TEST_TINY, rmsEps: g.getNumber('llama.attention.layer_norm_rms_epsilon') });
  assert.equal(g.tensorInfo('blk.0.attn_q.weight')!.type, GgmlType.F16);
  assert.equal(g.tensorInfo('blk.0.attn_norm.weight')!.type, GgmlType.F32);
  const w = g.tensorF32('blk.1.ffn_down.weight');
  let s = 0, s2 = 0;
  for (const x of w) { s += x; s2 += x * x; }
  assert.ok(Math.abs(s / w.length) < 0.002 && Math.abs(Math.sqrt(s2 / w.length) - 0.02) < 0.002);
  const n = g.tensorF32('output_norm.weight');
  assert.ok(n.every((x) => Math.abs(x - 1) < 0.1) && n.some((x) => x !== 1));
  const tok = tokenizerFromGguf(g);
  assert.equal(tok.size, 512);
  assert.equal(tok.decode(tok.encode('tiny model')), 'tiny model');
  g.close();
  const h = GgufFile.open(c);
  assert.equal(h.tensorInfo('token_embd.weight')!.type, GgmlType.F32);
  assert.ok(h.tensorF32('blk.0.attn_q.weight').some((x) => x !== 0));
  h.close();
});

const BPE_VOCAB = path.resolve(__dirname, '../../../shared/vocab/ggml-vocab-llama-bpe.gguf');
test('synth copies a real vocabulary when given', { skip: fs.existsSync(BPE_VOCAB) ? false : `${BPE_VOCAB} absent` }, () => {
  const cfg = { ...TEST_TINY, vocab: 128256 };
  const out = path.join(tmp, 'tiny-bpe.gguf');
  synthModel(cfg, 'f16', out, { seed: 1, vocabGguf: BPE_VOCAB });
  const g = GgufFile.open(out);
  assert.equal(g.getString('tokenizer.ggml.model'), 'gpt2');
  assert.equal(g.getString('tokenizer.ggml.pre'), 'llama-bpe');
  assert.equal(g.getArray('tokenizer.ggml.merges')!.length, 280147);
  assert.equal(llamaConfigFromGguf(g).vocab, 128256);
  assert.deepEqual(tokenizerFromGguf(g).encode('Hello world'), [9906, 1917]);
  g.close();
  assert.throws(() => synthModel(TEST_TINY, 'f16', path.join(tmp, 'x.gguf'), { vocabGguf: BPE_VOCAB }), /vocabulary has 128256 tokens, the model needs 512/);
});

function writeModel(file: string, cfg: LlamaConfig, arch = 'llama', tweak?: (t: { name: string; dims: number[] }) => number[] | null) {
  const tensors = [];
  for (const t of llamaTensorShapes(cfg)) {
    const dims = tweak ? tweak(t) : t.dims;
    if (!dims) continue;
    tensors.push({ name: t.name, dims, type: GgmlType.F32, data: new Uint8Array(4 * numElements(dims)) });
  }
  const meta = llamaGgufMetadata(cfg, 'x', 0).map(([k, v]) => k === 'general.architecture' ? [k, gv.str(arch)] as [string, typeof v] : [k, v] as [string, typeof v]);
  writeGguf(file, { metadata: meta, tensors });
  return GgufFile.open(file);
}

test('config validation errors', () => {
  const ok = writeModel(path.join(tmp, 'ok.gguf'), TEST_TINY);
  assert.equal(llamaConfigFromGguf(ok).ffnDim, 128);
  ok.close();
  const arch = writeModel(path.join(tmp, 'arch.gguf'), TEST_TINY, 'mamba');
  assert.throws(() => llamaConfigFromGguf(arch), /arch\.gguf: unsupported architecture mamba \(expected llama\)/);
  arch.close();
  const shape = writeModel(path.join(tmp, 'shape.gguf'), TEST_TINY, 'llama', (t) => t.name === 'blk.1.attn_k.weight' ? [64, 64] : t.dims);
  assert.throws(() => llamaConfigFromGguf(shape), /shape\.gguf: tensor blk\.1\.attn_k\.weight has shape \[64, 64\], expected \[64, 32\]/);
  shape.close();
  const missing = writeModel(path.join(tmp, 'missing.gguf'), TEST_TINY, 'llama', (t) => t.name === 'blk.0.ffn_up.weight' ? null : t.dims);
  assert.throws(() => llamaConfigFromGguf(missing), /missing\.gguf: missing tensor blk\.0\.ffn_up\.weight \(expected shape \[64, 128\]\)/);
  assert.equal(llamaConfigFromGguf(missing, { validate: false }).layers, 2);
  missing.close();
  const tied = writeModel(path.join(tmp, 'tied.gguf'), { ...TEST_TINY, tiedEmbeddings: true });
  assert.equal(llamaConfigFromGguf(tied).tiedEmbeddings, true);
  tied.close();
});
