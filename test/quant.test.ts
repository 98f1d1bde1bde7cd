/**
 * ggml block quantizers (runtime/gguf/quant): block sizes, hand-derived known answers, byte layouts,
 * golden digests of ggml's reference C output, round-trip error bounds, re-quantization idempotence,
 * and the quantized synth mixes (tensor types as llama-quantize picks them, bytes = quantize(f32 synth)).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GGML_TYPES, GgmlType, GgufFile, f16BitsToF32, f32ToF16Bits } from '../runtime/gguf';
import { SUPPORTED_QUANT_TYPES, dequantize, getScaleMinK4, nearestInt, quantize, rowBytes } from '../runtime/gguf/quant';
import { SYNTH_FILE_TYPE, llamaQuantTensorType, synthModel } from '../runtime/synth';
import { TEST_TINY } from '../runtime/presets';
import type { LlamaConfig } from '../runtime/model-config';

const QTYPES = [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K];
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const f32bytes = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/** xorshift32 uniforms in [0, 1) and Irwin-Hall(12) normals. */
function rngs(seed: number) {
  let s = seed >>> 0;
  const u = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const g = () => { let t = 0; for (let k = 0; k < 12; k++) t += u(); return t - 6; };
  return { u, g };
}

/** 5 x 4096 floats: small Gaussian, wide Gaussian, positive uniform, sparse (with all-zero blocks), cubed Gaussian. */
function goldenInput(): Float32Array {
  const { u, g } = rngs(0x2545f491);
  const n = 4096;
  const x = new Float32Array(5 * n);
  for (let i = 0; i < n; i++) x[i] = g() * 0.02;
  for (let i = 0; i < n; i++) x[n + i] = g() * 1000;
  for (let i = 0; i < n; i++) x[2 * n + i] = u() + 0.25;
  for (let i = 0; i < n; i++) x[3 * n + i] = i < 512 || u() < 0.85 ? 0 : g();
  for (let i = 0; i < n; i++) { const v = g(); x[4 * n + i] = v * v * v; }
  return x;
}

function gaussian(n: number, seed: number, std = 1): Float32Array {
  const { g } = rngs(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = g() * std;
  return x;
}

function relRms(a: Float32Array, b: Float32Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < a.length; i++) { e += (a[i] - b[i]) ** 2; s += a[i] ** 2; }
  return Math.sqrt(e / s);
}

test('block byte sizes match GGML_TYPES', () => {
  for (const t of QTYPES) {
    const { blockSize, typeSize } = GGML_TYPES[t];
    assert.equal(rowBytes(t, blockSize), typeSize);
    assert.equal(quantize(t, new Float32Array(3 * blockSize)).length, 3 * typeSize, GGML_TYPES[t].name);
    assert.equal(dequantize(t, new Uint8Array(3 * typeSize), 3 * blockSize).length, 3 * blockSize);
  }
  assert.deepEqual([GGML_TYPES[GgmlType.Q8_0].typeSize, GGML_TYPES[GgmlType.Q4_0].typeSize, GGML_TYPES[GgmlType.Q4_K].typeSize, GGML_TYPES[GgmlType.Q6_K].typeSize], [34, 18, 144, 210]);
  assert.throws(() => quantize(GgmlType.Q4_K, new Float32Array(128)), /not a multiple of the Q4_K block size 256/);
  assert.throws(() => quantize(GgmlType.Q2_K, new Float32Array(256)), /Q2_K is not implemented/);
  assert.throws(() => dequantize(GgmlType.Q8_0, new Uint8Array(33), 32), /33 bytes given, 34 needed/);
  assert.ok(SUPPORTED_QUANT_TYPES.includes(GgmlType.Q6_K));
});

test('nearestInt rounds half to even like ggml nearest_int', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 3.7, -3.7].map(nearestInt), [0, 2, 2, -0, -2, -2, 2, 4, -4].map((v) => v + 0));
});

test('q8_0 known answer: a ramp with amax 127 (d = 1, roundf halves away from zero)', () => {
  const x = new Float32Array(32);
  for (let j = 0; j < 31; j++) x[j] = 4 * (j - 16) + 0.5;
  x[31] = 127;
  const b = quantize(GgmlType.Q8_0, x);
  assert.equal(b[0] | (b[1] << 8), 0x3c00); // f16 1.0
  const q = Array.from(new Int8Array(b.buffer, 2, 32));
  const want = Array.from({ length: 32 }, (_, j) => (j === 31 ? 127 : j >= 16 ? 4 * (j - 16) + 1 : 4 * (j - 16)));
  assert.deepEqual(q, want); // e.g. -3.5 -> -4, 0.5 -> 1, 4.5 -> 5 (not 4 as ties-to-even would give)
  assert.deepEqual(Array.from(dequantize(GgmlType.Q8_0, b, 32)), want);
  // all-zero block: d = 0, q = 0
  assert.deepEqual(Array.from(quantize(GgmlType.Q8_0, new Float32Array(32))), new Array(34).fill(0));
  // d is rounded to f16 after computing q with the unrounded 1/d (amax 1 -> d = 1/127)
  const y = new Float32Array(32); y[0] = 1; y[1] = 0.5;
  const by = quantize(GgmlType.Q8_0, y);
  assert.equal(by[0] | (by[1] << 8), f32ToF16Bits(Math.fround(1 / 127)));
  assert.deepEqual([by[2], by[3]], [127, 64]); // 63.5 -> 64
});

test('q4_0 known answer and nibble layout (low nibble = element j, high = j + 16)', () => {
  const x = new Float32Array(32);
  for (let j = 0; j < 16; j++) { x[j] = j - 8; x[16 + j] = 7 - j; }
  // max = -8 (first of largest magnitude) -> d = 1; q = trunc(x + 8.5)
  const b = quantize(GgmlType.Q4_0, x);
  assert.equal(b.length, 18);
  assert.equal(b[0] | (b[1] << 8), 0x3c00);
  for (let j = 0; j < 16; j++) assert.equal(b[2 + j], j | ((15 - j) << 4), `byte ${j}`);
  assert.deepEqual(Array.from(dequantize(GgmlType.Q4_0, b, 32)), Array.from(x));
  // positive max 16 -> d = -2: +16 -> q 0; -16 -> 16.5 truncated to 16, clamped to 15 (-> -14); zeros -> q 8.
  // Element 3 is byte 3's low nibble, element 19 = 16 + 3 its high nibble.
  const y = new Float32Array(32); y[3] = 16; y[19] = -16;
  const by = quantize(GgmlType.Q4_0, y);
  assert.equal(f16BitsToF32(by[0] | (by[1] << 8)), -2);
  assert.deepEqual(Array.from(by.subarray(2)), Array.from({ length: 16 }, (_, j) => (j === 3 ? 0xf0 : 0x88)));
  const dy = dequantize(GgmlType.Q4_0, by, 32);
  assert.equal(dy[3], 16);
  assert.equal(dy[19], -14);
  assert.equal(dy[0], -0);
});

test('q4_K / q6_K layouts: scale packing and element order', () => {
  // constant sub-block values: x = c_j for sub-block j of 32 (Q4_K) -> per-sub-block scale/min packing
  const x = new Float32Array(256);
  for (let i = 0; i < 256; i++) x[i] = (i % 32) * 0.01 * (1 + (i >> 5)); // sub-block j spans 0 .. 0.31 (j+1)
  const b = quantize(GgmlType.Q4_K, x);
  const scales: number[] = [];
  for (let j = 0; j < 8; j++) scales.push(getScaleMinK4(j, b, 4)[0]);
  for (let j = 1; j < 8; j++) assert.ok(scales[j] > scales[j - 1], `scales increase: ${scales}`);
  assert.equal(scales[7], 63); // the largest sub-block scale maps to 63
  assert.ok(relRms(x, dequantize(GgmlType.Q4_K, b, 256)) < 0.05);
  // element 0 (low nibble of qs[0]) is min (q 0) and element 32 (high nibble of qs[0]) is 0 too; element 31 is q 15
  assert.equal(b[16] & 0xf, 0);
  assert.equal(b[16 + 31] & 0xf, 15);
  // Q6_K: a single nonzero element at 100 -> its sub-block 6 gets scale -128 (max_scale negative: -128/max),
  // q lands in ql/qh at the documented place
  const y = new Float32Array(256); y[100] = 1;
  const c = quantize(GgmlType.Q6_K, y);
  assert.equal(c.length, 210);
  const dy = dequantize(GgmlType.Q6_K, c, 256);
  assert.ok(Math.abs(dy[100] - 1) < 1e-3, `${dy[100]}`);
  for (let i = 0; i < 256; i++) if (i !== 100) assert.ok(dy[i] === 0, `${i}: ${dy[i]}`);
  // element 100 = chunk 0, l = 4, quarter 3 (64..95 -> q3, 96..127 -> q4): high nibble of ql[32 + 4], qh[4] bits 6-7
  const q = ((c[32 + 4] >> 4) | (((c[128 + 4] >> 6) & 3) << 4)) - 32;
  assert.equal(new Int8Array(c.buffer, 192, 16)[6] * q * f16BitsToF32(c[208] | (c[209] << 8)), dy[100]);
  // all-zero super-block: all bytes zero
  assert.deepEqual(Array.from(quantize(GgmlType.Q6_K, new Float32Array(256))), new Array(210).fill(0));
});

test('golden digests: bytes equal ggml-quants.c reference output (x86-64 gcc, no FMA contraction)', () => {
  const x = goldenInput();
  assert.equal(sha(f32bytes(x)), '5d3e734cc9c2b62d12e26a6e503a7d7df2c10724cc0e24818e0b0be90d3541e0', 'test input generator changed');
  // sha256 of quantize_row_*_ref / dequantize_row_* output for this input, from ggml's C compiled locally
  const want: Record<number, string> = {
    [GgmlType.Q8_0]: '845d5aec28fa35c6d601312722c4971d26e7d0d76c90bda66b511199f24c6aca',
    [GgmlType.Q4_0]: '8f698cbf4a6a7a1de709e91413350845aefff39b6c51f9c0968b7d6a9c9e40fb',
    [GgmlType.Q5_0]: '996d48a5b80f65a3355c6c7591f2fbbd433ebcea46ae8c1d87771de34e2d547e',
    [GgmlType.Q4_K]: 'a0163d529cbf3e26b6bdb0eb8e547d9d929a9e0197f02ac35652b0bc980687d9',
    [GgmlType.Q6_K]: 'edafa5852c2bca4445c63beb659bd6d994d7329fc649905e76992d568414abfb',
  };
  for (const t of QTYPES) assert.equal(sha(quantize(t, x)), want[t], GGML_TYPES[t].name);
  const deq4 = dequantize(GgmlType.Q4_K, quantize(GgmlType.Q4_K, x), x.length);
  const deq6 = dequantize(GgmlType.Q6_K, quantize(GgmlType.Q6_K, x), x.length);
  assert.equal(sha(f32bytes(deq4)), '625ef98388173e39e8d9f8857a97fc944c4dbae32ae52cf416b5804859496699');
  assert.equal(sha(f32bytes(deq6)), '12411fa8756c46e6384f82fa8d246bbbf718871263e107f2c7da0a56a9b172ab');
});

test('round-trip relative RMS error on Gaussian data', () => {
  const x = gaussian(256 * 64, 99, 0.02);
  const bound: Record<number, number> = { [GgmlType.Q8_0]: 1e-2, [GgmlType.Q4_0]: 0.1, [GgmlType.Q5_0]: 0.05, [GgmlType.Q4_K]: 0.08, [GgmlType.Q6_K]: 0.02 }; // Q4_K measures 0.071 here (bit-exact with ggml)
  const errs: string[] = [];
  for (const t of QTYPES) {
    const e = relRms(x, dequantize(t, quantize(t, x), x.length));
    errs.push(`${GGML_TYPES[t].name} ${e.toFixed(4)}`);
    assert.ok(e < bound[t], `${GGML_TYPES[t].name}: relative RMS ${e} >= ${bound[t]}`);
  }
  // ordering sanity: more bits, less error
  const e = (t: GgmlType) => relRms(x, dequantize(t, quantize(t, x), x.length));
  assert.ok(e(GgmlType.Q8_0) < e(GgmlType.Q6_K) && e(GgmlType.Q6_K) < e(GgmlType.Q4_K) && e(GgmlType.Q4_K) < e(GgmlType.Q4_0), errs.join(', '));
});

test('re-quantizing dequantized values gives the same bytes (q8_0, q4_0, q5_0)', () => {
  for (const t of [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0]) {
    for (const [seed, std] of [[5, 0.02], [6, 3], [7, 1e-3]] as const) {
      const x = gaussian(32 * 200, seed, std);
      const b = quantize(t, x);
      assert.deepEqual(quantize(t, dequantize(t, b, x.length)), b, `${GGML_TYPES[t].name} seed ${seed}`);
    }
  }
});

test('F32 and F16 pass through quantize/dequantize', () => {
  const x = Float32Array.of(1, -2.5, 0.1, 65504);
  assert.deepEqual(dequantize(GgmlType.F32, quantize(GgmlType.F32, x), 4), x);
  assert.deepEqual(Array.from(dequantize(GgmlType.F16, quantize(GgmlType.F16, x), 4)), [1, -2.5, f16BitsToF32(f32ToF16Bits(0.1)), 65504]);
});

test('llamaQuantTensorType mirrors llama-quantize (Q4_K_M use_more_bits, output Q6_K, fallbacks)', () => {
  const t = (mix: Parameters<typeof llamaQuantTensorType>[0], name: string, ne: number[], layers = 16, tied = false) => llamaQuantTensorType(mix, name, ne, layers, tied);
  // Llama 3.2 1B (16 layers): attn_v / ffn_down Q6_K on layers 0, 1, 4, 7, 10, 13, 14, 15
  const six = Array.from({ length: 16 }, (_, i) => i).filter((i) => t('q4_k_m', `blk.${i}.attn_v.weight`, [2048, 512]) === GgmlType.Q6_K);
  assert.deepEqual(six, [0, 1, 4, 7, 10, 13, 14, 15]);
  assert.equal(t('q4_k_m', 'blk.4.ffn_down.weight', [8192, 2048]), GgmlType.Q6_K);
  assert.equal(t('q4_k_m', 'blk.5.ffn_down.weight', [8192, 2048]), GgmlType.Q4_K);
  assert.equal(t('q4_k_m', 'blk.0.attn_q.weight', [2048, 2048]), GgmlType.Q4_K);
  assert.equal(t('q4_k', 'blk.0.attn_v.weight', [2048, 512]), GgmlType.Q4_K);
  // tied embeddings take the output rule; untied token_embd keeps the default type
  assert.equal(t('q4_k_m', 'token_embd.weight', [2048, 128256], 16, true), GgmlType.Q6_K);
  assert.equal(t('q4_k_m', 'token_embd.weight', [4096, 128256], 32, false), GgmlType.Q4_K);
  assert.equal(t('q4_0', 'output.weight', [4096, 128256]), GgmlType.Q6_K);
  assert.equal(t('q4_0', 'token_embd.weight', [4096, 128256]), GgmlType.Q4_0);
  assert.equal(t('q8_0', 'output.weight', [4096, 128256]), GgmlType.Q8_0);
  assert.equal(t('q8_0', 'blk.0.ffn_norm.weight', [4096]), GgmlType.F32);
  // rows not a multiple of 256: output -> Q8_0, Q4_K -> Q5_0, Q6_K -> Q8_0
  assert.equal(t('q4_k_m', 'output.weight', [64, 512]), GgmlType.Q8_0);
  assert.equal(t('q4_k_m', 'blk.1.attn_q.weight', [64, 64]), GgmlType.Q5_0);
  assert.equal(t('q4_k_m', 'blk.0.attn_v.weight', [64, 32]), GgmlType.Q8_0);
  assert.throws(() => t('q4_0', 'blk.0.attn_q.weight', [48, 48]), /cannot quantize/);
});

test('synth --type q8_0|q4_0|q4_k|q4_k_m: types, file_type, bytes = quantize(f32 synth)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-quant-'));
  try {
    const cfg: LlamaConfig = { ...TEST_TINY, dim: 256, ffnDim: 256, heads: 4, kvHeads: 2, headDim: 64, layers: 8, vocab: 512, tiedEmbeddings: true };
    const f32 = path.join(tmp, 'f32.gguf');
    synthModel(cfg, 'f32', f32, { seed: 3 });
    const ref = GgufFile.open(f32);
    try {
      for (const mix of ['q8_0', 'q4_0', 'q4_k', 'q4_k_m'] as const) {
        const out = path.join(tmp, `${mix}.gguf`);
        synthModel(cfg, mix, out, { seed: 3 });
        const g = GgufFile.open(out);
        try {
          assert.equal(g.getNumber('general.file_type'), SYNTH_FILE_TYPE[mix]);
          assert.equal(g.getNumber('general.quantization_version'), 2);
          assert.equal(g.tensorInfo('blk.0.attn_norm.weight')!.type, GgmlType.F32);
          const embd = g.tensorInfo('token_embd.weight')!;
          assert.equal(embd.type, mix === 'q8_0' ? GgmlType.Q8_0 : GgmlType.Q6_K, `${mix} tied token_embd`);
          if (mix === 'q4_k_m') {
            const six = [...Array(8).keys()].filter((i) => g.tensorInfo(`blk.${i}.attn_v.weight`)!.type === GgmlType.Q6_K);
            assert.deepEqual(six, [0, 3, 6, 7]); // use_more_bits for 8 layers
            assert.equal(g.tensorInfo('blk.3.ffn_down.weight')!.type, GgmlType.Q6_K);
            assert.equal(g.tensorInfo('blk.1.ffn_down.weight')!.type, GgmlType.Q4_K);
          }
          for (const name of ['token_embd.weight', 'blk.0.attn_v.weight', 'blk.1.attn_v.weight', 'blk.7.ffn_down.weight', 'blk.2.ffn_up.weight']) {
            const info = g.tensorInfo(name)!;
            assert.equal(sha(g.tensor(name)), sha(quantize(info.type, ref.tensorF32(name))), `${mix} ${name}`);
          }
        } finally { g.close(); }
      }
      assert.equal(ref.getNumber('general.file_type'), 0);
    } finally { ref.close(); }
    // test-tiny (dim 64): Q4_K falls back to Q5_0 and the output to Q8_0, as llama.cpp does
    const tiny = path.join(tmp, 'tiny.gguf');
    synthModel(TEST_TINY, 'q4_k_m', tiny, { seed: 1 });
    const g = GgufFile.open(tiny);
    try {
      assert.equal(g.tensorInfo('blk.0.attn_q.weight')!.type, GgmlType.Q5_0);
      assert.equal(g.tensorInfo('output.weight')!.type, GgmlType.Q8_0);
      assert.equal(g.tensorInfo('token_embd.weight')!.type, GgmlType.Q5_0);
    } finally { g.close(); }
  } finally { fs.rmSync(tmp, { recursive: true, force: true }); }
});
