/**
 * matmul.vecq (GEMV with 8-bit activations and integer dot products) on the first Vulkan device, against two
 * float64 references of the same quantized weights (tuner/reference/quantize.ts, ggml's rules):
 * - exact: B quantized to 8 bits per 32-value block as the kernel does (Q8_1: d = max|b| / 127,
 *   q = round(b * 127 / max|b|)): bound 3e-3, because GLSL division is not correctly rounded (2.5 ulp),
 *   so a value within ulps of a rounding boundary may land one step away, and one such step in B moves a
 *   whole column of D by ~1e-3 (measured 5e-4 once in a few hundred runs); a wrong nibble, sign, scale or
 *   block offset is far outside it;
 * - plain: the f32 B, at the family's declared tolerance (VECQ_TOLERANCE), which is what the tuner checks
 *   (cases of 64 outputs or more; 1.5x for the swiglu epilogue, which multiplies two rounded sums).
 * N = 1..8, ragged M, odd block counts, both reductions, UNROLL 2, the fused epilogues (RMSNorm of B,
 * swiglu over gate|up rows, residual add), for every instance: q8_0 / q4_0 (kpack's GPU layout) and q4_k /
 * q6_k (ggml's layout, K a multiple of 256: the shapes use K = 256, 512, 1280 there, ragged super-block
 * counts per lane step). Schema checks (shared-memory bound, plan errors) run on the CPU.
 * Skips without a Vulkan device, without VK_KHR_shader_integer_dot_product, or when the GLSL compiler lacks
 * GL_EXT_integer_dot_product.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { quantBlockElems } from '../generator/families/common';
import { VECQ_B_BYTES, VECQ_TOLERANCE, matmulVecq as fam, vecqBBytes } from '../generator/families/matmul_vecq';
import type { MatmulEpilogue, MatmulRope, MatmulShape, QuantType } from '../generator/ops';
import { enumerateVariants } from '../generator/prune';
import { type Params, type TemplateInstance, entryAbi, entryAbiRuns, fusesRope, variantSupports } from '../generator/schema';
import { matmulReference, relativeError } from '../tuner/reference/matmul';
import { f16BitsToF32, f32ToF16Bits, toF16 } from '../tuner/reference/f16';
import { rmsNormReference, ropeKvReference } from '../tuner/reference/ops';
import { dequantize } from '../tuner/reference/quant';
import { quantize } from '../tuner/reference/quantize';
import { kvQuantize } from '../tuner/reference/kv-cache';
import { untouchedRowsAndValues } from './support/kv-check';
import { type Gpu, closeGpu, fmtParams, gpuWeights, instanceSkipReason, openGpu, randomF32, runVariant, samplePoints } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

/** B [rows][K] as the kernel sees it: per 32-value block d = max|b| / 127 (f32), values round(b * 127 / max|b|) * d. */
function q8Activations(b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(b.length);
  for (let o = 0; o < b.length; o += 32) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(b[o + i]));
    const d = Math.fround(amax / 127);
    const scale = amax > 0 ? Math.fround(127 / amax) : 0;
    for (let i = 0; i < 32; i++) out[o + i] = Math.round(Math.fround(b[o + i] * scale)) * d;
  }
  return out;
}

interface Case {
  shape: MatmulShape;
  epilogue?: MatmulEpilogue;
}

/** Run one case; returns [error vs the exact (8-bit B) reference, error vs the plain f32 B reference]. */
async function errors(g: Gpu, inst: TemplateInstance, p: Params, { shape, epilogue }: Case): Promise<[number, number]> {
  const qt = inst.key as QuantType;
  const { M, N, K } = shape;
  const rowsA = epilogue?.glu ? 2 * M : M;
  const blocks = quantize(qt, randomF32(rowsA * K));
  const aRef = dequantize(qt, blocks, rowsA * K);
  const b32 = randomF32(N * K).map((v) => v * 3);
  const g32 = randomF32(K);
  const d0 = randomF32(N * M);
  const s: MatmulShape = { ...shape, epilogue };
  const out = await runVariant(g, fam, inst, p, s, { A: gpuWeights(qt, blocks), B: b32, G: g32 }, { D: epilogue?.residual ? { init: d0 } : { bytes: 4 * N * M } });
  const d = new Float32Array(out.D);
  const refFor = (bq: boolean): Float64Array => {
    // the kernel quantizes B * G (NORM) and applies the per-column rsqrt afterwards
    const bg = epilogue?.norm ? Float64Array.from(b32, (v, i) => Math.fround(v * g32[i % K])) : Float64Array.from(b32);
    let bUse: ArrayLike<number> = bq ? q8Activations(bg) : bg;
    if (epilogue?.norm) {
      const normed = rmsNormReference({ rows: N, cols: K, eps: epilogue.norm.eps }, b32, g32);
      // exact: scale the quantized B*G by the same per-column factor rmsNorm applies
      if (bq) {
        const scaled = new Float64Array(N * K);
        for (let n = 0; n < N; n++) {
          let ss = 0;
          for (let k = 0; k < K; k++) ss += b32[n * K + k] ** 2;
          const inv = 1 / Math.sqrt(ss / K + epilogue.norm.eps);
          for (let k = 0; k < K; k++) scaled[n * K + k] = bUse[n * K + k] * inv;
        }
        bUse = scaled;
      } else bUse = normed;
    }
    const prod = matmulReference({ M: rowsA, N, K }, aRef, bUse);
    const ref = new Float64Array(N * M);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        let y = prod[n * rowsA + m];
        if (epilogue?.glu) y = (y / (1 + Math.exp(-y))) * prod[n * rowsA + M + m];
        ref[n * M + m] = y + (epilogue?.residual ? d0[n * M + m] : 0);
      }
    return ref;
  };
  return [relativeError(d, refFor(true)), relativeError(d, refFor(false))];
}

describe('matmul.vecq schema (CPU)', () => {
  it('BQ 0 variants admit shapes whose quantized B fits VECQ_B_BYTES, and plan() names the bound otherwise', () => {
    const inst = fam.instances[0];
    assert.equal(vecqBBytes({ N: 1, K: 14336 }), 48 * 448);
    assert.ok(fam.supports({ M: 4096, N: 1, K: 14336 }, inst));
    assert.ok(fam.supports({ M: 2048, N: 8, K: 2048 }, inst));
    // N * K = 28672 needs more than VECQ_B_BYTES of shared memory with BQ 0; BQ 1 quantizes B into scratch
    assert.ok(fam.supports({ M: 4096, N: 2, K: 14336 }, inst));
    assert.ok(!variantSupports(fam, { M: 4096, N: 2, K: 14336 }, fam.defaults, inst));
    assert.ok(variantSupports(fam, { M: 4096, N: 2, K: 14336 }, { ...fam.defaults, BQ: 1 }, inst));
    assert.ok(variantSupports(fam, { M: 4096, N: 1, K: 14336 }, fam.defaults, inst));
    assert.ok(!fam.supports({ M: 4096, N: 9, K: 32 }, inst));
    assert.ok(!fam.supports({ M: 4096, N: 1, K: 48 }, inst));
    assert.throws(() => fam.plan({ M: 8, N: 4, K: 8192 }, fam.defaults, inst), (e: Error) => e instanceof RangeError && e.message.includes(String(VECQ_B_BYTES)));
    const plan = fam.plan({ M: 100, N: 3, K: 2048 }, fam.defaults, inst);
    assert.deepEqual(plan.steps[0].specOverrides, { NCOLS: 3, KB: 64, NORM: 0, GLU: 0, RESIDUAL: 0, ROPE: 0, KVF16: 0, DYNAMIC: 0, KVQ: 0, PASS: 0 });
    assert.deepEqual(plan.steps[0].groups, [Math.ceil(100 / ((fam.defaults.WG / fam.defaults.KSPLIT) * fam.defaults.RPT)), 1, 1]);
    assert.equal(plan.scratchBytes, 0);
  });
  it('BQ 1 plans a quantization dispatch into scratch before the GEMV, with no shared-memory bound on K', () => {
    const inst = fam.instances[1];
    const p = { ...fam.defaults, BQ: 1, WG: 64 };
    const plan = fam.plan({ M: 100, N: 4, K: 8192, epilogue: { norm: { eps: 1e-5 } } }, p, inst);
    assert.equal(plan.steps.length, 2);
    assert.deepEqual(plan.steps[0].specOverrides, { NCOLS: 4, KB: 1, NORM: 1, GLU: 0, RESIDUAL: 0, ROPE: 0, KVF16: 0, DYNAMIC: 0, KVQ: 0, PASS: 1 });
    assert.deepEqual(plan.steps[0].groups, [(4 * 256 * 8) / 64, 1, 1], '8 invocations per (column, block)');
    assert.equal(plan.steps[1].specOverrides?.PASS, 0);
    assert.equal(plan.scratchBytes, 48 * 4 * 256);
    assert.ok(fam.sharedMemoryBytes(p, inst) < fam.sharedMemoryBytes({ ...p, BQ: 0 }, inst) - 20000);
  });
  it('q4_k / q6_k instances (KQUANT, ggml layout) need K % 256 == 0; the plans are the same', () => {
    assert.deepEqual(fam.instances.map((i) => i.key), ['q8_0', 'q4_0', 'q4_k', 'q6_k']);
    for (const inst of fam.instances.slice(2)) {
      assert.equal(inst.defines.KQUANT, true);
      assert.equal(quantBlockElems(inst), 256);
      assert.ok(!fam.supports({ M: 64, N: 1, K: 160 }, inst), `${inst.key}: K = 160`);
      assert.ok(!fam.supports({ M: 64, N: 1, K: 4160 }, inst), `${inst.key}: K = 4160`);
      assert.ok(fam.supports({ M: 64, N: 1, K: 4096 }, inst));
      assert.throws(() => fam.plan({ M: 64, N: 1, K: 160 }, fam.defaults, inst), /multiple of 256/);
      assert.deepEqual(fam.plan({ M: 100, N: 3, K: 2048 }, fam.defaults, inst), fam.plan({ M: 100, N: 3, K: 2048 }, fam.defaults, fam.instances[0]));
      assert.deepEqual(fam.plan({ M: 100, N: 4, K: 8192 }, { ...fam.defaults, BQ: 1 }, inst), fam.plan({ M: 100, N: 4, K: 8192 }, { ...fam.defaults, BQ: 1 }, fam.instances[1]));
    }
    assert.ok(fam.supports({ M: 64, N: 1, K: 160 }, fam.instances[0]));
  });
});

describe('matmul.vecq on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  for (const inst of fam.instances) {
    it(`matmul.vecq/${inst.key}: 8-bit activations, N=${quantBlockElems(inst) === 256 ? '1,2,3,8' : '1..8'}, reductions, UNROLL, epilogues`, async (t) => {
      const skip = await instanceSkipReason(g, inst);
      if (skip) return t.skip(skip);
      const sg = g.limits.subgroupSize;
      // K-quants (K % 256 == 0): K = 256 (8 blocks), 512, 1280 (40 blocks: ragged for KSPLIT 16 / 32). Their
      // weight decoding does not depend on N or the epilogue, and lavapipe compiles each (N, epilogue)
      // pipeline of theirs in up to seconds: N = 1, 3, 8 (+ 2 at K = 1280), each epilogue at one N (GLU at
      // N = 3, GLU + NORM at N = 1) and one random point instead of two keep the run time in bounds.
      const kq = quantBlockElems(inst) === 256;
      const [kSmall, kOne, kOdd, kEpi] = kq ? [256, 256, 1280, 512] : [160, 32, 1056, 96];
      const ns = kq ? [1, 3, 8] : [1, 2, 3, 4, 5, 6, 7, 8];
      const epilogues: [MatmulEpilogue, number[]][] = [
        [{ norm: { eps: 1e-5 } }, kq ? [1] : [1, 3]],
        [{ glu: true }, kq ? [3] : [1, 3]],
        [{ norm: { eps: 1e-6 }, glu: true }, kq ? [1] : [1, 3]],
        [{ residual: true }, kq ? [3] : [1, 3]],
      ];
      const space = enumerateVariants(fam, inst, g.limits).kept;
      const points = [
        fam.defaults,
        { ...fam.defaults, WG: 64, RPT: 4, KSPLIT: sg, REDUCE: 0, UNROLL: 2 },
        { ...fam.defaults, WG: 64, RPT: 2, KSPLIT: sg, REDUCE: 0, UNROLL: 2, PREFETCH: 1 },
        { ...fam.defaults, WG: 64, RPT: 2, KSPLIT: 8, REDUCE: 0, UNROLL: 4, PREFETCH: 1 },
        { ...fam.defaults, BQ: 1, WG: 64, RPT: 1, KSPLIT: 8, UNROLL: 4 },
        { ...fam.defaults, WG: 8 * sg, RPT: 1, KSPLIT: 4 * sg, REDUCE: 1 },
        { ...fam.defaults, WG: 64, RPT: 1, KSPLIT: 8, REDUCE: 0 },
        { ...fam.defaults, BQ: 1 },
        { ...fam.defaults, BQ: 1, WG: 8 * sg, RPT: 2, KSPLIT: 4 * sg, REDUCE: 1, UNROLL: 2 },
        ...samplePoints(space, kq ? 1 : 2, fam.defaults),
      ].filter((p) => fam.reject(p, inst, g.limits) === null);
      assert.ok(points.length >= 3, 'the chosen points fit the device');
      for (const p of points) {
        const cases: Case[] = [];
        for (const N of ns) cases.push({ shape: { M: 67, N, K: kSmall } });
        cases.push({ shape: { M: 1, N: 1, K: kOne } }, { shape: { M: 40, N: 2, K: kOdd } });
        // past the shared-memory bound of BQ 0 (N * K = 18432): BQ 1 only
        if (p.BQ === 1) cases.push({ shape: { M: 40, N: 3, K: 6144 } }, { shape: { M: 33, N: 2, K: 9216 }, epilogue: { norm: { eps: 1e-5 } } });
        for (const [epilogue, epNs] of epilogues) for (const N of epNs) cases.push({ shape: { M: 70, N, K: kEpi }, epilogue });
        for (const c of cases) {
          const [exact, plain] = await errors(g, inst, p, c);
          const label = `matmul.vecq/${inst.key} ${fmtParams(p)} M=${c.shape.M} N=${c.shape.N} K=${c.shape.K} ${JSON.stringify(c.epilogue ?? {})}`;
          assert.ok(exact < 3e-3, `${label}: rel err vs 8-bit-B reference ${exact}`);
          // (a single cancelling sum makes a relative error of few outputs meaningless: >= 64 outputs only)
          // swiglu multiplies two 8-bit-rounded sums (the family doc: ~1.2% at K = 96; 2.2e-2 seen once in
          // many runs), so its cases get 1.5x the family tolerance; the exact bound above stays 3e-3
          const bound = c.epilogue?.glu ? 1.5 * VECQ_TOLERANCE : VECQ_TOLERANCE;
          if (c.shape.M * c.shape.N >= 64) assert.ok(plain < bound, `${label}: rel err vs f32-B reference ${plain} >= ${bound}`);
        }
      }
    });
  }
});

describe('matmul.vecq rope epilogue (CPU)', () => {
  const inst = fam.instances[1];
  const rope: MatmulRope = { qRows: 64, kvRows: 32, D: 16, base: 10000, pos0: 5, kvStride: 12, kvType: 'f16' };
  it('plans ROPE / KVF16 / DYNAMIC and the 40-byte push; needs M = qRows + 2 kvRows, an even RPT, no glu / residual', () => {
    const s: MatmulShape = { M: 128, N: 3, K: 96, epilogue: { norm: { eps: 1e-5 }, rope } };
    assert.ok(fam.supports(s, inst));
    const plan = fam.plan(s, fam.defaults, inst);
    assert.deepEqual(plan.steps[0].specOverrides, { NCOLS: 3, KB: 3, NORM: 1, GLU: 0, RESIDUAL: 0, ROPE: 1, KVF16: 1, DYNAMIC: 0, KVQ: 0, PASS: 0 });
    const push = new DataView(plan.steps[0].push.buffer, plan.steps[0].push.byteOffset, plan.steps[0].push.byteLength);
    assert.equal(push.byteLength, 40);
    assert.deepEqual([4, 5, 6, 7, 8].map((i) => push.getUint32(4 * i, true)), [64, 32, 16, 5, 12]);
    assert.equal(push.getFloat32(36, true), 10000);
    assert.ok(!fam.supports({ ...s, M: 127 }, inst), 'M must be qRows + 2 kvRows');
    assert.ok(!fam.supports({ ...s, epilogue: { rope, glu: true } }, inst), 'no glu');
    assert.ok(!fam.supports({ ...s, N: 8 }, inst), 'positions 5..12 pass kvStride 12');
    assert.ok(fam.supports({ ...s, N: 8, epilogue: { rope: { ...rope, dynamicPos: true } } }, inst), 'dynamic positions are the caller\'s');
    assert.ok(!variantSupports(fam, s, { ...fam.defaults, RPT: 1 }, inst), 'rows come in pairs');
    assert.throws(() => fam.plan(s, { ...fam.defaults, RPT: 1 }, inst), /even RPT/);
    assert.equal(fam.plan({ M: 128, N: 1, K: 96 }, fam.defaults, inst).steps[0].specOverrides?.ROPE, 0);
    // quantized caches: head dims of whole 64-value groups, whole 64-row groups per workgroup
    const q8: MatmulRope = { qRows: 128, kvRows: 64, D: 64, base: 10000, pos0: 5, kvStride: 12, kvType: 'q8_0' };
    const sq: MatmulShape = { M: 256, N: 2, K: 96, epilogue: { norm: { eps: 1e-5 }, rope: q8 } };
    assert.ok(fam.supports(sq, inst));
    assert.ok(!fam.supports({ ...sq, epilogue: { rope: { ...q8, D: 32, qRows: 64, kvRows: 32 } }, M: 128 }, inst), 'D = 32: a scale word spans two heads');
    assert.ok(!variantSupports(fam, sq, fam.defaults, inst), '32 rows per workgroup');
    assert.ok(variantSupports(fam, sq, { ...fam.defaults, RPT: 4 }, inst));
    assert.equal(fam.plan(sq, { ...fam.defaults, RPT: 4 }, inst).steps[0].specOverrides?.KVQ, 1);
    assert.equal(fam.plan({ ...sq, epilogue: { rope: { ...q8, kvType: 'q4_0' } } }, { ...fam.defaults, RPT: 4 }, inst).steps[0].specOverrides?.KVQ, 2);
  });
  it('contract 2 fuses rope for f32 / f16 caches, contract 3 for quantized ones too; entries of contract 1 still run, without it', () => {
    assert.ok(fusesRope(fam, 'q4_0', entryAbi(fam, 'q4_0')));
    assert.ok(fusesRope(fam, 'q4_0', entryAbi(fam, 'q4_0'), 'q8_0'));
    assert.ok(fusesRope(fam, 'q4_0', 2) && !fusesRope(fam, 'q4_0', 2, 'q8_0') && !fusesRope(fam, 'q4_0', 2, 'q4_0'));
    assert.ok(!fusesRope(fam, 'q4_0', 1));
    assert.ok(entryAbiRuns(fam, 'q4_0', 1) && entryAbiRuns(fam, 'q4_0', 2));
    assert.ok(!entryAbiRuns(fam, 'q4_0', 4));
  });
});

describe('matmul.vecq rope epilogue on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  for (const inst of [fam.instances[0], fam.instances[1], fam.instances[2]]) {
    it(`matmul.vecq/${inst.key}: RMSNorm + QKV product + rope + K/V cache write (f32 / f16 caches, fixed and step positions)`, async (t) => {
      const skip = await instanceSkipReason(g, inst);
      if (skip) return t.skip(skip);
      const qt = inst.key as QuantType;
      const heads = 4, kvHeads = 2, D = 16, kvStride = 12;
      const qRows = heads * D, kvRows = kvHeads * D, M = qRows + 2 * kvRows;
      const K = quantBlockElems(inst) === 256 ? 256 : 96;
      const sg = g.limits.subgroupSize;
      const points = [fam.defaults, { ...fam.defaults, RPT: 4, BQ: 1 }, { ...fam.defaults, WG: 64, KSPLIT: sg, RPT: 2, UNROLL: 2 }, { ...fam.defaults, RPT: 2, PREFETCH: 1 }].filter((p) => fam.reject(p, inst, g.limits) === null);
      for (const p of points)
        for (const [N, kvType, dynamicPos] of [[1, 'f32', false], [3, 'f16', false], [2, 'f16', true], [3, 'f32', true]] as const) {
          const pos = 5 + N; // the position of token 0: in the push constants, or (dynamicPos) in the step buffer
          const rope: MatmulRope = { qRows, kvRows, D, base: 10000, pos0: dynamicPos ? 0 : pos, kvStride, kvType, dynamicPos };
          const shape: MatmulShape = { M, N, K, epilogue: { norm: { eps: 1e-5 }, rope } };
          const blocks = quantize(qt, randomF32(M * K));
          const aRef = dequantize(qt, blocks, M * K);
          const b32 = randomF32(N * K).map((v) => v * 3);
          const g32 = randomF32(K);
          const cacheElems = kvHeads * kvStride * D;
          const f16 = kvType === 'f16';
          const init = () => (f16 ? toF16(randomF32(cacheElems)).bits : randomF32(cacheElems));
          const k0 = init(), v0 = init();
          const out = await runVariant(g, fam, inst, p, shape, { A: gpuWeights(qt, blocks), B: b32, G: g32, step: Uint32Array.of(pos) }, { D: { bytes: 4 * N * qRows }, Kcache: { init: k0 }, Vcache: { init: v0 } });
          // reference: the exact (8-bit B) normed product, then rope_kv's reference on its Q | K | V rows
          const bg = Float64Array.from(b32, (v, i) => Math.fround(v * g32[i % K]));
          const bq = q8Activations(bg);
          for (let n = 0; n < N; n++) {
            let ss = 0;
            for (let k = 0; k < K; k++) ss += b32[n * K + k] ** 2;
            const inv = 1 / Math.sqrt(ss / K + 1e-5);
            for (let k = 0; k < K; k++) bq[n * K + k] *= inv;
          }
          const y = matmulReference({ M, N, K }, aRef, bq);
          const asF64 = (c: Float32Array | Uint16Array) => (c instanceof Uint16Array ? Float64Array.from(c, f16BitsToF32) : Float64Array.from(c));
          const ropeShape = { tokens: N, heads, kvHeads, D, pos0: pos, kvStride, base: 10000, mode: 'adjacent' as const, qStride: M, kStride: M, vStride: M, qOffset: 0, kOffset: qRows, vOffset: qRows + kvRows };
          const convert = f16 ? (v: number) => f16BitsToF32(f32ToF16Bits(v)) : (v: number) => v;
          const ref = ropeKvReference(ropeShape, { q: y, k: y, v: y }, { k: asF64(k0), v: asF64(v0) }, pos, convert);
          const label = `matmul.vecq/${inst.key} ${fmtParams(p)} N=${N} ${kvType} ${dynamicPos ? 'step position' : 'push position'}`;
          const read = (b: ArrayBuffer) => (f16 ? asF64(new Uint16Array(b)) : asF64(new Float32Array(b)));
          const q = new Float32Array(out.D);
          assert.ok(relativeError(q, ref.q) < 3e-3, `${label}: Q rel err ${relativeError(q, ref.q)}`);
          for (const [name, got, want, before] of [['K', read(out.Kcache), ref.kCache, asF64(k0)], ['V', read(out.Vcache), ref.vCache, asF64(v0)]] as const) {
            const written: number[] = [], expect: number[] = [];
            for (let h = 0; h < kvHeads; h++)
              for (let r = 0; r < kvStride; r++)
                for (let e = 0; e < D; e++) {
                  const at = (h * kvStride + r) * D + e;
                  if (r >= pos && r < pos + N) {
                    written.push(got[at]);
                    expect.push(want[at]);
                  } else if (!Object.is(got[at], before[at])) assert.fail(`${label}: ${name} cache row ${r} (not a written position) changed at ${at}: ${before[at]} -> ${got[at]}`);
                }
            const err = relativeError(written, expect);
            assert.ok(err < 3e-3, `${label}: ${name} cache rows ${pos}..${pos + N - 1} rel err ${err}`);
          }
        }
    });
  }
  it('matmul.vecq/q8_0: rope + q8_0 / q4_0 K/V cache write through shared memory (64-row groups, fixed and step positions)', async (t) => {
    const inst = fam.instances[0];
    const skip = await instanceSkipReason(g, inst);
    if (skip) return t.skip(skip);
    const heads = 4, kvHeads = 2, D = 64, kvStride = 12, K = 96;
    const qRows = heads * D, kvRows = kvHeads * D, M = qRows + 2 * kvRows, rows = kvHeads * kvStride;
    // 64 and 128 rows per workgroup; BQ 1
    const points = [{ ...fam.defaults, RPT: 4 }, { ...fam.defaults, WG: 256, RPT: 4 }, { ...fam.defaults, WG: 256, RPT: 2, BQ: 1 }].filter((p) => fam.reject(p, inst, g.limits) === null);
    assert.ok(points.length >= 2, 'points the device accepts');
    for (const p of points)
      for (const [N, kvType, dynamicPos] of [[1, 'q8_0', false], [3, 'q4_0', true], [2, 'q8_0', true], [1, 'q4_0', false]] as const) {
        const pos = 5 + N;
        const rope: MatmulRope = { qRows, kvRows, D, base: 10000, pos0: dynamicPos ? 0 : pos, kvStride, kvType, dynamicPos };
        const shape: MatmulShape = { M, N, K, epilogue: { norm: { eps: 1e-5 }, rope } };
        assert.ok(fam.supports(shape, inst) && variantSupports(fam, shape, p, inst), fmtParams(p));
        const blocks = quantize('q8_0', randomF32(M * K));
        const aRef = dequantize('q8_0', blocks, M * K);
        const b32 = randomF32(N * K).map((v) => v * 3);
        const g32 = randomF32(K);
        const k0 = kvQuantize(kvType, randomF32(rows * D), rows, D).bytes;
        const v0 = kvQuantize(kvType, randomF32(rows * D), rows, D).bytes;
        const out = await runVariant(g, fam, inst, p, shape, { A: gpuWeights('q8_0', blocks), B: b32, G: g32, step: Uint32Array.of(pos) },
          { D: { bytes: 4 * N * qRows }, Kcache: { init: new Uint32Array(k0.slice().buffer) }, Vcache: { init: new Uint32Array(v0.slice().buffer) } });
        const bq = q8Activations(Float64Array.from(b32, (v, i) => Math.fround(v * g32[i % K])));
        for (let n = 0; n < N; n++) {
          let ss = 0;
          for (let k = 0; k < K; k++) ss += b32[n * K + k] ** 2;
          for (let k = 0; k < K; k++) bq[n * K + k] /= Math.sqrt(ss / K + 1e-5);
        }
        const y = matmulReference({ M, N, K }, aRef, bq);
        const ropeShape = { tokens: N, heads, kvHeads, D, pos0: pos, kvStride, base: 10000, mode: 'adjacent' as const, qStride: M, kStride: M, vStride: M, qOffset: 0, kOffset: qRows, vOffset: qRows + kvRows };
        const ref = ropeKvReference(ropeShape, { q: y, k: y, v: y }, { k: new Float64Array(rows * D), v: new Float64Array(rows * D) }, pos);
        const label = `matmul.vecq/q8_0 ${fmtParams(p)} N=${N} ${kvType} ${dynamicPos ? 'step position' : 'push position'}`;
        assert.ok(relativeError(new Float32Array(out.D), ref.q) < 3e-3, `${label}: Q`);
        const written = (r: number) => r % kvStride >= pos && r % kvStride < pos + N;
        for (const [name, got, want, before] of [['K', out.Kcache, ref.kCache, k0], ['V', out.Vcache, ref.vCache, v0]] as const) {
          const { values } = untouchedRowsAndValues(kvType, got, before, rows, D, written, `${label}: ${name} cache`);
          const writtenValues: number[] = [], expect: number[] = [];
          for (let r = 0; r < rows; r++) if (written(r)) for (let e = 0; e < D; e++) (writtenValues.push(values[r * D + e]), expect.push(want[r * D + e]));
          // the 8-bit activations (~3e-3) plus the cache's own rounding: ~0.4% RMS for q8_0, ~8% for q4_0
          const bound = kvType === 'q8_0' ? 1.5e-2 : 1.5e-1;
          const err = relativeError(writtenValues, expect);
          assert.ok(err < bound, `${label}: ${name} cache rows ${pos}..${pos + N - 1} rel err ${err.toExponential(2)} >= ${bound}`);
        }
      }
  });
});
