/**
 * attention_o.vec (decode attention + output projection + residual in one dispatch) on the first Vulkan device,
 * against the float64 reference (tuner/reference/ops.ts attentionOReference) of the same weights: Wo quantized
 * with ggml's rules (q4_0, q8_0, uploaded in kpack's GPU layout) or rounded to f16, K/V f16, f32, q8_0 or q4_0 (the
 * cache layout, tuner/reference/kv-cache.ts). X starts at random values (the residual stream) and must end at
 * X + Wo * attention(Q, K, V); K/V rows past kvLength hold NaN (any read past it shows). Cases: GQA ratios 1, 2 and 4, D 64 and 128, queries 1 and 2, depth 0
 * (one KV row) and past KV_CHUNK (splits > 1: the tile's last split merges, then projects; counters checked
 * back at zero by the harness), a replayed step (dynamicPos: positions from the step buffer, grid planned for
 * a longer window), and parameter points with OTPR, OU, OSPLIT (dim not a multiple of it included), ROWS, GQA_PACK, SG_REDUCE and KVU
 * varied.
 * Schema checks run on the CPU. Skips without a Vulkan device, without float atomics, or when the GLSL
 * compiler lacks GL_EXT_shader_atomic_float.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { attentionOVec as fam } from '../generator/families/attention_o_vec';
import { type AttentionOShape, type QuantType, attentionOInstanceTypes, isKvQuantType } from '../generator/ops';
import type { Params } from '../generator/schema';
import { toF16 } from '../tuner/reference/f16';
import { kvQuantize } from '../tuner/reference/kv-cache';
import { relativeError } from '../tuner/reference/matmul';
import { attentionOReference } from '../tuner/reference/ops';
import { dequantize } from '../tuner/reference/quant';
import { quantize } from '../tuner/reference/quantize';
import { closeGpu, fmtParams, gpuWeights, instanceSkipReason, openGpu, randomF32, runVariant } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

/** Relative L2 error allowed: f32 arithmetic against float64 (atomics in any order). */
const TOL = 2e-4;

const shape = (D: number, heads: number, kvHeads: number, queries: number, depth: number, dim: number): AttentionOShape => ({
  D, heads, kvHeads, queries, kvLength: depth + queries, kvStride: Math.ceil((depth + queries) / 64) * 64 + 64, queryPos0: depth, causal: true, scale: 1 / Math.sqrt(D), dim,
});

describe('attention_o.vec schema (CPU)', () => {
  it('admits D multiples of 32 and <= 8 queries, plans one dispatch with counters only when split', () => {
    const inst = fam.instances[0];
    const s = shape(64, 32, 8, 1, 0, 2048);
    assert.ok(fam.supports(s, inst));
    assert.ok(!fam.supports({ ...s, D: 48 }, inst));
    assert.ok(!fam.supports({ ...s, queries: 9, kvLength: 9 }, inst));
    assert.throws(() => fam.plan({ ...s, D: 16 }, fam.defaults, inst), /D=16 is not a multiple of 32/);
    const one = fam.plan(s, { ...fam.defaults, KV_CHUNK: 256 }, inst);
    assert.equal(one.steps.length, 1);
    assert.equal(one.counterWords, undefined);
    assert.equal(one.scratchBytes, 0);
    const deep = fam.plan({ ...s, kvLength: 4097, kvStride: 4352, queryPos0: 4096 }, { ...fam.defaults, KV_CHUNK: 256, ROWS: 4, GQA_PACK: 1 }, inst);
    assert.equal(deep.steps.length, 1);
    assert.deepEqual(deep.steps[0].groups, [1, 8, 17]);
    assert.equal(deep.counterWords, 8);
    assert.equal(deep.steps[0].push.length, 40);
    // OSPLIT parts: z = parts * splits, their own partials and counters
    const parts = fam.plan({ ...s, kvLength: 4097, kvStride: 4352, queryPos0: 4096 }, { ...fam.defaults, KV_CHUNK: 256, ROWS: 4, GQA_PACK: 1, OSPLIT: 4 }, inst);
    assert.deepEqual(parts.steps[0].groups, [1, 8, 68]);
    assert.equal(parts.counterWords, 32);
    assert.equal(parts.scratchBytes, 4 * deep.scratchBytes);
    const limits = { subgroupSize: 32, maxSharedMemoryBytes: 49152, maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024 } as never;
    assert.match(String(fam.reject({ ...fam.defaults, D: 64, OTPR: 4 }, inst, limits)), /OTPR=4 > D\/32=2/);
    assert.equal(fam.reject({ ...fam.defaults, D: 64, OTPR: 2 }, inst, limits), null);
  });
});

describe('attention_o.vec on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  for (const inst of fam.instances) {
    it(`attention_o.vec/${inst.key}: X += Wo * attention over GQA, D, queries, depths, replay and parameters`, async (t) => {
      const g = gpu!;
      const skip = await instanceSkipReason(g, inst);
      if (skip) return t.skip(skip);
      const { wo: woType, kv } = attentionOInstanceTypes(inst.key);
      const sg = g.limits.subgroupSize;
      const points: Params[] = [
        { ...fam.defaults },
        { ...fam.defaults, KV_CHUNK: 64, ROWS: 2, OTPR: 2, OU: 1, SG_REDUCE: 1, TPR: Math.min(8, sg) },
        { ...fam.defaults, WG: 128, GQA_PACK: 0, ROWS: 1, OTPR: 1, OU: 4, KVU: 2, KV_CHUNK: 128 },
        { ...fam.defaults, WG: 32, TPR: 4, ROWS: 8, OTPR: Math.min(4, sg), OU: 2, KV_CHUNK: 32, OSPLIT: 4 },
        { ...fam.defaults, KV_CHUNK: 128, OSPLIT: 2, OU: 1 },
        { ...fam.defaults, OSPLIT: 8, OTPR: 2 },
        { ...fam.defaults, KV_CHUNK: 128, KVU: 2, PREFETCH: 1 },
      ];
      // [shape, replay window end (dynamicPos) or 0]
      const cases: Array<[AttentionOShape, number]> = [
        [shape(64, 8, 2, 1, 0, 96), 0],
        [shape(64, 8, 2, 2, 300, 160), 0],
        [shape(128, 4, 4, 1, 600, 64), 0],
        [shape(128, 8, 2, 2, 5, 128), 0],
        [{ ...shape(64, 4, 1, 1, 300, 64), kvStride: 576 }, 512],
      ];
      let checked = 0;
      for (const p0 of points) {
        for (const [s, window] of cases) {
          const p = { ...p0, D: s.D };
          if (fam.reject(p, inst, g.limits) !== null) continue;
          const K = s.heads * s.D;
          const q = randomF32(s.queries * K);
          const kvElems = s.kvHeads * s.kvStride * s.D;
          const kRaw = randomF32(kvElems), vRaw = randomF32(kvElems);
          for (let r = 0; r < s.kvHeads * s.kvStride; r++) {
            if (r % s.kvStride >= s.kvLength) {
              kRaw.fill(NaN, r * s.D, (r + 1) * s.D);
              vRaw.fill(NaN, r * s.D, (r + 1) * s.D);
            }
          }
          const k16 = toF16(kRaw), v16 = toF16(vRaw);
          // q8_0 / q4_0: the cache layout, never-read rows with NaN scales (tuner/reference/kv-cache.ts)
          const valid = (r: number) => r % s.kvStride < s.kvLength;
          const kq = isKvQuantType(kv) ? kvQuantize(kv, kRaw, s.kvHeads * s.kvStride, s.D, valid) : null;
          const vq = isKvQuantType(kv) ? kvQuantize(kv, vRaw, s.kvHeads * s.kvStride, s.D, valid) : null;
          const kVals = kq ? kq.values : kv === 'f16' ? k16.values : kRaw, vVals = vq ? vq.values : kv === 'f16' ? v16.values : vRaw;
          const woRaw = randomF32(s.dim * K);
          let woUpload: Uint32Array | Uint16Array, woVals: ArrayLike<number>;
          if (woType === 'f16') {
            const h = toF16(woRaw);
            woUpload = h.bits;
            woVals = h.values;
          } else {
            const blocks = quantize(woType as QuantType, woRaw);
            woUpload = gpuWeights(woType as QuantType, blocks);
            woVals = dequantize(woType as QuantType, blocks, s.dim * K);
          }
          const x = randomF32(s.queries * s.dim);
          // replay: planned for the window's KV length, the real position in the step buffer
          const run = window ? { ...s, kvLength: window, queryPos0: window - s.queries, dynamicPos: true } : s;
          const out = await runVariant(g, fam, inst, p, run,
            {
              Q: q, K: kq ? new Uint32Array(kq.bytes.buffer) : kv === 'f16' ? k16.bits : kRaw, V: vq ? new Uint32Array(vq.bytes.buffer) : kv === 'f16' ? v16.bits : vRaw, Wo: woUpload,
              step: Uint32Array.of(s.queryPos0),
            },
            { X: { init: x } });
          const y = new Float32Array(out.X);
          const proj = attentionOReference(s, q, kVals, vVals, woVals, null);
          const label = `${fmtParams(p)} ${JSON.stringify(s)}${window ? ` replayed for ${window}` : ''}`;
          const err = relativeError(Float64Array.from(y, (v, i) => v - x[i]), proj);
          assert.ok(err <= TOL, `${label}: relative error of Wo * O ${err.toExponential(2)} > ${TOL}`);
          assert.ok(relativeError(y, attentionOReference(s, q, kVals, vVals, woVals, x)) <= TOL, `${label}: X + Wo * O`);
          checked++;
        }
      }
      assert.ok(checked >= 20, `cases checked: ${checked}`);
    });
  }
});
