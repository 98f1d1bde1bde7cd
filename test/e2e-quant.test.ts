/**
 * End to end with block-quantized weights on lavapipe: the test-tiny preset synthesized as a llama.cpp
 * q8_0 mix (every matrix Q8_0) and q4_0 mix (matrices Q4_0; output.weight Q8_0 since dim 64 is not a
 * multiple of Q6_K's 256), opened with the default pack only, greedy tokens equal to those of the float64
 * reference run on the ggml-dequantized weights (test/support/llama-ref.ts); and the test-k preset (dim 256)
 * as a q4_k_m mix (Q4_K and Q6_K), prefilled in one batch of > 8 tokens so matmul.tile runs the K-quants.
 * Skips without a Vulkan device.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAvailable, vulkan } from '../native/vulkan';
import type { Context } from '../native/vulkan/api';
import { generate } from '../runtime/generate';
import { GGML_TYPES, GgufFile } from '../runtime/gguf';
import { llamaConfigFromGguf } from '../runtime/model-config';
import { SUPPORTED_WEIGHT_TYPES } from '../runtime/model/weights';
import { preset } from '../runtime/presets';
import { openModel } from '../runtime/session';
import { synthModel } from '../runtime/synth';
import { tokenizerFromGguf } from '../runtime/tokenizer';
import { readPack } from '../tuner/pack/read';
import { LlamaReference } from './support/llama-ref';

const haveGpu = (() => {
  try {
    return isAvailable() && vulkan.listDevices().length > 0;
  } catch {
    return false;
  }
})();

describe('end to end: quantized test-tiny -> default pack -> greedy generation', { skip: haveGpu ? false : 'needs a Vulkan device (lavapipe)' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-e2e-quant-'));
  let ctx: Context;
  before(() => {
    ctx = vulkan.createContext(0);
  });
  after(() => {
    ctx?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [mix, want] of [['q8_0', ['q8_0']], ['q4_0', ['q4_0', 'q8_0']]] as const) {
    test(`${mix}: greedy tokens equal the float64 reference of the dequantized weights`, () => {
      const file = path.join(dir, `tiny-${mix}.gguf`);
      synthModel(preset('test-tiny'), mix, file, { seed: 7 });
      const g = GgufFile.open(file);
      try {
        // every matrix is stored quantized, in a type the GPU kernels run; norms stay f32
        const types = new Set(g.tensors.filter((t) => t.ne.length > 1).map((t) => GGML_TYPES[t.type].name.toLowerCase()));
        assert.deepEqual([...types].sort(), [...want].sort());
        for (const t of g.tensors) assert.ok(SUPPORTED_WEIGHT_TYPES.includes(GGML_TYPES[t.type].name.toLowerCase()), t.name);

        const cfg = llamaConfigFromGguf(g);
        const tokenizer = tokenizerFromGguf(g);
        const n = 16;
        const session = openModel(ctx, file, { packs: [readPack(defaultPack())], contextLength: cfg.contextLength, maxBatch: 16, kvType: 'f32' });
        let gpu: number[];
        let promptTokens: number[];
        try {
          const r = generate(session.graph, tokenizer, { prompt: 'Once upon a time', maxTokens: n, temperature: 0, topK: 0, topP: 1, seed: 0 });
          gpu = r.tokens;
          promptTokens = r.promptTokens;
        } finally {
          session.close();
        }
        assert.ok(promptTokens.length > 1, 'prompt did not tokenize');
        const ref = new LlamaReference(g, cfg, false).greedy(promptTokens, n);
        const stop = ref.indexOf(tokenizer.eos);
        assert.deepEqual(gpu, stop >= 0 ? ref.slice(0, stop) : ref);
        assert.ok(gpu.length > 0);
      } finally {
        g.close();
      }
    });
  }

  test('q4_k_m (test-k, dim 256): Q4_K + Q6_K weights, 20+ token prefill through matmul.tile, greedy tokens equal the reference', () => {
    const file = path.join(dir, 'test-k-q4_k_m.gguf');
    synthModel(preset('test-k'), 'q4_k_m', file, { seed: 7 });
    const g = GgufFile.open(file);
    try {
      // matrices are Q4_K, with Q6_K on the (tied) token embedding / output and use_more_bits attn_v / ffn_down
      const types = new Set(g.tensors.filter((t) => t.ne.length > 1).map((t) => GGML_TYPES[t.type].name.toLowerCase()));
      assert.deepEqual([...types].sort(), ['q4_k', 'q6_k']);
      assert.equal(GGML_TYPES[g.tensors.find((t) => t.name === 'token_embd.weight')!.type].name, 'Q6_K');
      for (const t of g.tensors) assert.ok(SUPPORTED_WEIGHT_TYPES.includes(GGML_TYPES[t.type].name.toLowerCase()), t.name);

      const cfg = llamaConfigFromGguf(g);
      assert.equal(cfg.dim, 256);
      const tokenizer = tokenizerFromGguf(g);
      const n = 16;
      const prompt = 'Once upon a time there was a robot'; // 25 tokens with this synthetic vocabulary
      const session = openModel(ctx, file, { packs: [readPack(defaultPack())], contextLength: cfg.contextLength, maxBatch: 32, kvType: 'f32' });
      let gpu: number[];
      let promptTokens: number[];
      try {
        const r = generate(session.graph, tokenizer, { prompt, maxTokens: n, temperature: 0, topK: 0, topP: 1, seed: 0 });
        gpu = r.tokens;
        promptTokens = r.promptTokens;
      } finally {
        session.close();
      }
      // one prefill batch of > 8 tokens (matmul.vec takes N <= 8): the Q4_K / Q6_K matmuls run on matmul.tile
      assert.ok(promptTokens.length > 8 && promptTokens.length <= 32, `prompt is ${promptTokens.length} tokens`);
      const ref = new LlamaReference(g, cfg, false).greedy(promptTokens, n);
      const stop = ref.indexOf(tokenizer.eos);
      assert.deepEqual(gpu, stop >= 0 ? ref.slice(0, stop) : ref);
      assert.ok(gpu.length > 0);
    } finally {
      g.close();
    }
  });

  // q8_0 rounds each K/V value by at most half a step of max|block| / 127 (q4_0: about a step of max|block| / 8), which
  // attention averages; a misread cache (wrong scale, row or layout) is off by O(1). Measured on lavapipe over these
  // seven calls: 5.1e-3 .. 6.5e-3 (q8_0), 8.1e-2 .. 1.09e-1 (q4_0).
  for (const [kvType, bound] of [['q8_0', 2e-2], ['q4_0', 3e-1]] as const) {
    test(`${kvType} K/V cache (test-k, head dim 64): prefill and decode logits within quantization noise of the f32 cache`, () => {
      const file = path.join(dir, 'test-k-f32.gguf');
      if (!fs.existsSync(file)) synthModel(preset('test-k'), 'f32', file, { seed: 5 });
      const g = GgufFile.open(file);
      let cfg;
      try {
        cfg = llamaConfigFromGguf(g);
      } finally {
        g.close();
      }
      const open = (kv: 'f32' | typeof kvType) => openModel(ctx, file, { packs: [readPack(defaultPack())], contextLength: cfg.contextLength, maxBatch: 32, kvType: kv });
      const exact = open('f32');
      const quant = open(kvType);
      try {
        const prompt = Array.from({ length: 20 }, (_, i) => (i * 53 + 7) % cfg.vocab);
        const steps: Array<[number[], number]> = [[prompt, 0], ...Array.from({ length: 6 }, (_, i): [number[], number] => [[(i * 31 + 3) % cfg.vocab], prompt.length + i])];
        for (const [tokens, pos] of steps) {
          const a = exact.graph.forward(tokens, pos, 'logits');
          const b = quant.graph.forward(tokens, pos, 'logits');
          let num = 0;
          let den = 0;
          for (let i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) ** 2;
            den += a[i] ** 2;
          }
          const rel = Math.sqrt(num / den);
          assert.ok(rel < bound, `${tokens.length} tokens at ${pos}: logits rel error ${rel.toExponential(2)} vs the f32 cache`);
          assert.ok(rel > 0, `${tokens.length} tokens at ${pos}: logits identical to the f32 cache (was the ${kvType} cache used?)`);
        }
      } finally {
        exact.close();
        quant.close();
      }
    });
  }
});

function defaultPack(): string {
  return path.resolve(__dirname, '..', 'default.kpack');
}
