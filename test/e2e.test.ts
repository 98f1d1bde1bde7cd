/**
 * End to end on lavapipe: the real llama2.c model in ../shared/models converted to GGUF, a pack
 * tuned for it, and greedy generation on the GPU graph whose tokens equal those of the float64 CPU
 * reference forward pass (test/support/llama-ref.ts), with and without a prompt, with the tuned pack
 * and with the defaults; plus the CLI's handling of bad input.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAvailable, vulkan } from '../native/vulkan';
import type { Context } from '../native/vulkan/api';
import { generate } from '../runtime/generate';
import { GgufFile } from '../runtime/gguf';
import { llamaConfigFromGguf } from '../runtime/model-config';
import { openModel } from '../runtime/session';
import { tokenizerFromGguf } from '../runtime/tokenizer';
import { readPack } from '../tuner/pack/read';
import { kpack, sharedDir } from './support/cli';
import { LlamaReference } from './support/llama-ref';

const modelBin = path.join(sharedDir, 'models', 'aidreams260K.bin');
const tokBin = path.join(sharedDir, 'models', 'tok512.bin');
const haveShared = fs.existsSync(modelBin) && fs.existsSync(tokBin);
const haveGpu = (() => {
  try {
    return isAvailable() && vulkan.listDevices().length > 0;
  } catch {
    return false;
  }
})();
const skip = !haveShared ? 'needs ../shared/models' : !haveGpu ? 'needs a Vulkan device (lavapipe)' : false;

describe('end to end: llama2.c model -> GGUF -> pack -> greedy generation', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-e2e-'));
  const gguf = path.join(dir, 'aidreams.gguf');
  const packFile = path.join(dir, 'aidreams.kpack');
  const env = { KPACK_CACHE: path.join(dir, 'cache'), XDG_CACHE_HOME: path.join(dir, 'xdg') };
  let ctx: Context;

  before(() => {
    const conv = kpack(['convert', 'llama2c', modelBin, tokBin, '-o', gguf]);
    assert.equal(conv.status, 0, conv.stderr);
    const tune = kpack(['autotune', '--model', gguf, '--batch', '1,16', '--depth', '0,32', '--budget', '40s', '--out', packFile], env);
    assert.equal(tune.status, 0, tune.stderr);
    assert.match(tune.stdout, /matmul/);
    ctx = vulkan.createContext(0);
  });
  after(() => {
    ctx?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the tuned pack verifies and holds tuned and default entries', () => {
    const v = kpack(['pack', 'verify', packFile]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const pack = readPack(packFile, { device: ctx.device });
    assert.ok(pack.manifest.entries.some((e) => e.stats.length > 0), 'no tuned entry');
    assert.ok(pack.manifest.entries.some((e) => e.match.shape === null), 'no default entry');
    assert.ok(fs.readdirSync(path.join(env.XDG_CACHE_HOME, 'kpack', 'packs')).length === 1, 'pack not installed');
  });

  for (const usePack of [true, false]) {
    for (const prompt of ['', 'The robot dreamed of']) {
      test(`greedy tokens equal the float64 reference (${usePack ? 'tuned pack' : 'defaults'}, ${prompt ? 'with' : 'without'} a prompt)`, () => {
        const g = GgufFile.open(gguf);
        try {
          const cfg = llamaConfigFromGguf(g);
          const tokenizer = tokenizerFromGguf(g);
          const n = 24;
          const packs = usePack ? [readPack(packFile, { device: ctx.device }), readPack(defaultPack())] : [readPack(defaultPack())];
          const session = openModel(ctx, gguf, { packs, contextLength: cfg.contextLength, maxBatch: 16, kvType: 'f32' });
          let gpu: number[];
          let promptTokens: number[];
          try {
            const r = generate(session.graph, tokenizer, { prompt, maxTokens: n, temperature: 0, topK: 0, topP: 1, seed: 0 });
            gpu = r.tokens;
            promptTokens = r.promptTokens;
          } finally {
            session.close();
          }
          const ref = new LlamaReference(g, cfg, false).greedy(promptTokens, n);
          const stop = ref.indexOf(tokenizer.eos);
          assert.deepEqual(gpu, stop >= 0 ? ref.slice(0, stop) : ref);
          assert.ok(gpu.length > 0);
        } finally {
          g.close();
        }
      });
    }
  }

  test('kpack run streams text and says which kernels it used', () => {
    const r = kpack(['run', '-m', gguf, '--pack', packFile, '-p', 'Once upon a time', '-n', '16'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /kernels: pack/);
    assert.ok(r.stdout.startsWith('Once upon a time') && r.stdout.length > 'Once upon a time'.length + 10, r.stdout);
  });

  test('kpack bench prints a llama-bench table and JSONL', () => {
    const t = kpack(['bench', '-m', gguf, '-p', '8', '-n', '4', '-d', '0,8', '-r', '1', '--pack', packFile], env);
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /\| model +\| size +\| params +\| backend +\| +test \| +t\/s \|/);
    assert.match(t.stdout, /pp8 @ d8/);
    const j = kpack(['bench', '-m', gguf, '-p', '8', '-n', '4', '-r', '1', '-o', 'jsonl', '--default-kernels'], env);
    assert.equal(j.status, 0, j.stderr);
    const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.test), ['pp8', 'tg4']);
    assert.ok(rows.every((r) => r.tps > 0));
  });
});

function defaultPack(): string {
  return path.resolve(__dirname, '..', 'default.kpack');
}

describe('bad input gives a clear error, a non-zero exit and no partial files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-bad-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('missing model', () => {
    const r = kpack(['run', '-m', path.join(dir, 'nope.gguf')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nope\.gguf: no such file \(expected a GGUF model file\)/);
  });

  test('corrupt model', { skip: haveGpu ? false : 'needs a Vulkan device' }, () => {
    const bad = path.join(dir, 'corrupt.gguf');
    fs.writeFileSync(bad, Buffer.from('this is not a gguf file at all'));
    const r = kpack(['run', '-m', bad, '-n', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /corrupt\.gguf/);
    assert.match(r.stderr, /GGUF/);
  });

  test('unknown architecture and wrong tensor shapes', { skip: haveGpu ? false : 'needs a Vulkan device' }, async () => {
    const { writeGguf, gv } = await import('../runtime/gguf');
    const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(0.5).buffer);
    const arch = path.join(dir, 'arch.gguf');
    writeGguf(arch, { metadata: new Map([['general.architecture', gv.str('mamba')]]), tensors: [] } as any);
    let r = kpack(['run', '-m', arch, '-n', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unsupported architecture mamba \(expected llama\)/);
    if (haveShared) {
      const good = path.join(dir, 'good.gguf');
      assert.equal(kpack(['convert', 'llama2c', modelBin, tokBin, '-o', good]).status, 0);
      const g = GgufFile.open(good);
      const tensors = g.tensors.map((t) => ({ name: t.name, dims: t.name === 'blk.0.attn_q.weight' ? [t.ne[0], t.ne[1] - 8] : t.ne, type: t.type, data: t.name === 'blk.0.attn_q.weight' ? f32(t.ne[0] * (t.ne[1] - 8)) : g.tensor(t.name) }));
      const shapes = path.join(dir, 'shapes.gguf');
      writeGguf(shapes, { metadata: g.metadata, tensors } as any);
      g.close();
      r = kpack(['run', '-m', shapes, '-n', '1']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /blk\.0\.attn_q\.weight/);
    }
  });

  test('no Vulkan device', () => {
    const r = kpack(['devices'], { VK_ICD_FILENAMES: path.join(dir, 'none.json'), VK_DRIVER_FILES: path.join(dir, 'none.json') });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no Vulkan device/);
  });

  test('unwritable output leaves no partial file', () => {
    if (!haveShared) return;
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    const target = path.join(ro, 'missing-dir', 'out.gguf');
    const r = kpack(['convert', 'llama2c', modelBin, tokBin, '-o', target]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /out\.gguf/);
    assert.deepEqual(fs.readdirSync(ro), []);
  });

  test('bad option values name the option', () => {
    const r = kpack(['autotune', '--preset', 'test-tiny', '--batch', '1,x']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--batch: "x" is not a non-negative integer/);
  });
});
