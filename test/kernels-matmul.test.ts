/**
 * matmul.tile and matmul.vec (matmul.coopmat: test/kernels-coopmat.test.ts) vs the float64
 * reference on the first Vulkan device: f32 and f16 weights, ragged shapes (M=67, N=13, K=131 ...),
 * N = 1..8 for the GEMV family, defaults plus points sampled from the pruned space. D is poisoned with
 * NaN before each run; inputs are fresh random values per check. Skips when no Vulkan device.
 * Quantized instances (q8_0, q4_0): A is quantized by a simple local quantizer (any valid blocks do);
 * q4_k / q6_k (matmul.vec and matmul.tile, K = 256 / 512) by runtime/gguf/quant's ggml quantizer;
 * the reference dequantizes the same bytes in float64 (tuner/reference/quant.ts); K is a multiple of 32,
 * with odd block counts per row so rows start on 2- but not 4-byte boundaries. The CPU-only checks
 * (dequantizer, weightBytes, supports/plan for K % 32 != 0) run without a device.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { matmulTile } from '../generator/families/matmul_tile';
import { matmulVec } from '../generator/families/matmul_vec';
import { type MatmulEpilogue, type MatmulShape, type QuantType, weightBytes } from '../generator/ops';
import { enumerateVariants } from '../generator/prune';
import type { KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { f32ToF16Bits, f16BitsToF32, toF16 } from '../tuner/reference/f16';
import { matmulReference, relativeError } from '../tuner/reference/matmul';
import { rmsNormReference } from '../tuner/reference/ops';
import { dequantize } from '../tuner/reference/quant';
import { GgmlType } from '../runtime/gguf';
import { dequantize as runtimeDequantize, quantize as ggmlQuantize } from '../runtime/gguf/quant';
import { type Gpu, closeGpu, fmtParams, gpuWeights, openGpu, randomF32, runVariant, samplePoints } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

const norm = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0));

/**
 * Simple (not ggml-bit-exact) quantizer for tests: q8_0 d = max|x|/127, q = round(x/d); q4_0 as ggml,
 * d = (value of largest magnitude)/-8, q = min(15, trunc(x/d + 8.5)). Returns the packed blocks.
 */
function quantizeSimple(type: QuantType, x: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(weightBytes(type, x.length));
  const bb = type === 'q8_0' ? 34 : 18;
  for (let b = 0; b < x.length / 32; b++) {
    const e = b * 32;
    const o = b * bb;
    let amax = 0;
    let max = 0;
    for (let i = 0; i < 32; i++) {
      if (Math.abs(x[e + i]) > amax) {
        amax = Math.abs(x[e + i]);
        max = x[e + i];
      }
    }
    const dBits = f32ToF16Bits(type === 'q8_0' ? amax / 127 : max / -8);
    const d = f16BitsToF32(dBits);
    const id = d ? 1 / d : 0;
    out[o] = dBits & 0xff;
    out[o + 1] = dBits >> 8;
    if (type === 'q8_0') {
      for (let i = 0; i < 32; i++) out[o + 2 + i] = Math.max(-128, Math.min(127, Math.round(x[e + i] * id))) & 0xff;
    } else {
      const nib = (v: number): number => Math.max(0, Math.min(15, Math.trunc(v * id + 8.5)));
      for (let j = 0; j < 16; j++) out[o + 2 + j] = nib(x[e + j]) | (nib(x[e + j + 16]) << 4);
    }
  }
  return out;
}

const QTYPES: readonly string[] = ['q8_0', 'q4_0', 'q4_k', 'q6_k'];
const quantType = (inst: TemplateInstance): QuantType | null =>
  QTYPES.includes(String(inst.defines.WTYPE)) ? (inst.defines.WTYPE as QuantType) : null;
/** q4_k / q6_k (256-value super-blocks) are quantized with runtime/gguf/quant (ggml's quantize_row_*_ref). */
const isK = (t: QuantType | null): boolean => t === 'q4_k' || t === 'q6_k';
const quantizeAny = (t: QuantType, x: Float32Array): Uint8Array =>
  isK(t) ? ggmlQuantize(t === 'q4_k' ? GgmlType.Q4_K : GgmlType.Q6_K, x) : quantizeSimple(t, x);

/** Run one matmul variant on fresh random inputs and compare with the reference. */
async function check(g: Gpu, family: KernelFamily<MatmulShape>, inst: TemplateInstance, p: Params, s: MatmulShape, bound: number, roundInputs = false): Promise<void> {
  const a32 = randomF32(s.M * s.K);
  const b32 = randomF32(s.N * s.K);
  const f16 = inst.defines.WTYPE === 'f16';
  const qt = quantType(inst);
  const a = f16 ? toF16(a32) : null;
  // Quantized: upload the blocks in the GPU layout (generator/weight-layout.ts); the reference is their float64 values.
  const q = qt ? quantizeAny(qt, a32) : null;
  const aUpload = q ? gpuWeights(qt!, q) : a ? a.bits : a32;
  const aRef = q ? dequantize(qt!, q, s.M * s.K) : a ? a.values : roundInputs ? toF16(a32).values : a32;
  const bRef = roundInputs ? toF16(b32).values : b32;
  const out = await runVariant(g, family, inst, p, s, { A: aUpload, B: b32 }, { D: { bytes: 4 * s.M * s.N } });
  const d = new Float32Array(out.D);
  const ref = matmulReference(s, aRef, bRef);
  // ||D - ref|| / ||ref||; with fewer than 64 outputs a single cancelling sum can make ||ref|| tiny, so
  // there the denominator is || |A| |B|^T || (the usual GEMM error bound).
  const err =
    ref.length >= 64
      ? relativeError(d, ref)
      : relativeError(d, ref) * (norm(ref) / norm(matmulReference(s, Array.from(aRef, Math.abs), Array.from(bRef, Math.abs))));
  assert.ok(err < bound, `${family.id}/${inst.key} ${fmtParams(p)} M=${s.M} N=${s.N} K=${s.K}: rel err ${err} >= ${bound}`);
}

const SHAPES: MatmulShape[] = [
  { M: 67, N: 13, K: 131 },
  { M: 64, N: 32, K: 128 },
  { M: 1, N: 1, K: 1 },
  { M: 130, N: 37, K: 512 },
  { M: 33, N: 70, K: 36 },
];

/** Shapes for the quantized instances: K % 32 == 0, odd block counts (96 = 3 blocks, 32 = 1), ragged M and N. */
const QSHAPES: MatmulShape[] = [
  { M: 67, N: 13, K: 96 },
  { M: 64, N: 32, K: 128 },
  { M: 1, N: 1, K: 32 },
  { M: 130, N: 37, K: 544 },
  { M: 33, N: 70, K: 64 },
];

describe('quantized weights (CPU)', () => {
  it('reference dequantizer: hand-built q8_0 and q4_0 blocks', () => {
    const q8 = new Uint8Array(34);
    q8[0] = 0x00; // d = 0.5 (f16 0x3800)
    q8[1] = 0x38;
    for (let i = 0; i < 32; i++) q8[2 + i] = (i - 16) & 0xff;
    assert.deepEqual(Array.from(dequantize('q8_0', q8, 32)), Array.from({ length: 32 }, (_, i) => (i - 16) * 0.5));
    const q4 = new Uint8Array(18);
    q4[0] = 0x00; // d = 2 (f16 0x4000)
    q4[1] = 0x40;
    for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
    const want = [...Array.from({ length: 16 }, (_, j) => (j - 8) * 2), ...Array.from({ length: 16 }, (_, j) => (7 - j) * 2)];
    assert.deepEqual(Array.from(dequantize('q4_0', q4, 32)), want);
  });

  it('test quantizer round trip is close; weightBytes', () => {
    const x = randomF32(32 * 8);
    for (const [t, tol] of [['q8_0', 1 / 127], ['q4_0', 1 / 7]] as const) {
      const back = dequantize(t, quantizeSimple(t, x), x.length);
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(back[i] - x[i]) <= tol, `${t} ${i}: ${back[i]} vs ${x[i]}`);
    }
    assert.equal(weightBytes('q8_0', 4096 * 4096), (4096 * 4096 * 34) / 32);
    assert.equal(weightBytes('q4_0', 64), 36);
    assert.equal(weightBytes('f16', 10), 20);
    assert.equal(weightBytes('f32', 10), 40);
    assert.throws(() => weightBytes('q4_0', 48));
  });

  it('reference dequantizer: q4_k / q6_k match runtime/gguf/quant (ggml dequantize_row_*)', () => {
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    for (const [t, g] of [['q4_k', GgmlType.Q4_K], ['q6_k', GgmlType.Q6_K]] as const) {
      const q = ggmlQuantize(g, x);
      assert.equal(q.length, weightBytes(t, 512));
      const want = runtimeDequantize(g, q, 512);
      const got = dequantize(t, q, 512);
      for (let i = 0; i < 512; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * (1 + Math.abs(want[i])), `${t} ${i}: ${got[i]} vs ${want[i]}`);
    }
    assert.equal(weightBytes('q4_k', 256 * 3), 144 * 3);
    assert.equal(weightBytes('q6_k', 256 * 3), 210 * 3);
    assert.throws(() => weightBytes('q6_k', 128));
  });

  it('q4_k / q6_k instances: matmul.vec and matmul.tile, K % 256 != 0 not supported, plan throws', () => {
    for (const f of [matmulVec, matmulTile]) {
      const ks = f.instances.filter((i) => isK(quantType(i)));
      assert.deepEqual(ks.map((i) => i.key), ['q4_k', 'q6_k'], f.id);
      for (const inst of ks) {
        assert.equal(f.supports({ M: 8, N: 1, K: 128 }, inst), false, `${f.id}/${inst.key}`);
        assert.equal(f.supports({ M: 8, N: 1, K: 512 }, inst), true, `${f.id}/${inst.key}`);
        assert.equal(f.supports({ M: 8, N: 9, K: 544 }, inst), false, `${f.id}/${inst.key}`);
        assert.throws(() => f.plan({ M: 8, N: 1, K: 288 }, f.defaults, inst), /multiple of 256/);
      }
    }
    const limits = { maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxSharedMemoryBytes: 65536 } as Parameters<typeof matmulTile.reject>[2];
    for (const inst of matmulTile.instances.filter((i) => isK(quantType(i)))) {
      assert.equal(matmulTile.reject(matmulTile.defaults, inst, limits), null);
      // the BK values must hold whole octets and divide the block: BK = 4 (VEC 4) does not
      assert.match(String(matmulTile.reject({ ...matmulTile.defaults, BK: 4, VEC: 4 }, inst, limits)), /BK must divide/);
      assert.match(String(matmulTile.reject({ ...matmulTile.defaults, BK: 24, VEC: 4 }, inst, limits)), /BK must divide/);
    }
  });

  it('quantized instances: K % 32 != 0 not supported, plan throws', () => {
    for (const f of [matmulTile, matmulVec]) {
      for (const inst of f.instances.filter((i) => quantType(i) && !isK(quantType(i)))) {
        assert.equal(f.supports({ M: 8, N: 1, K: 48 }, inst), false, `${f.id}/${inst.key}`);
        assert.equal(f.supports({ M: 8, N: 1, K: 64 }, inst), true, `${f.id}/${inst.key}`);
        assert.throws(() => f.plan({ M: 8, N: 1, K: 48 }, f.defaults, inst), /multiple of 32/);
      }
      assert.equal(f.supports({ M: 8, N: 1, K: 48 }, f.instances[0]), true);
    }
  });
});

describe('matmul kernels on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;

  for (const inst of matmulTile.instances.filter((i) => !quantType(i))) {
    it(`matmul.tile/${inst.key}: defaults and sampled points, ragged shapes`, async () => {
      const space = enumerateVariants(matmulTile, inst, g.limits).kept;
      assert.ok(space.length > 0);
      const points = [
        matmulTile.defaults,
        { ...matmulTile.defaults, VEC: 1, SHMEM_PAD: 0 },
        { ...matmulTile.defaults, VEC: 2, SHMEM_RESERVE: 8192 },
        ...samplePoints(space, 4, matmulTile.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulTile.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of SHAPES) await check(g, matmulTile, inst, p, s, 1e-5);
      }
    });
  }

  for (const inst of matmulVec.instances.filter((i) => !quantType(i))) {
    it(`matmul.vec/${inst.key}: N=1..8, both reductions, sampled points`, async () => {
      const space = enumerateVariants(matmulVec, inst, g.limits).kept;
      const sg = g.limits.subgroupSize;
      const points = [
        matmulVec.defaults,
        { ...matmulVec.defaults, WG: 64, RPT: 4, KSPLIT: sg, REDUCE: 0, VEC: 4 },
        { ...matmulVec.defaults, WG: 32, RPT: 1, KSPLIT: Math.max(4, sg / 2), REDUCE: 0, VEC: 2 },
        { ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: 2 * sg, REDUCE: 1, VEC: 1 },
        ...samplePoints(space, 3, matmulVec.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulVec.reject(p, inst, g.limits), null, fmtParams(p));
        for (let N = 1; N <= 8; N++) {
          await check(g, matmulVec, inst, p, { M: 67, N, K: 131 }, 1e-5);
          await check(g, matmulVec, inst, p, { M: 40, N, K: 256 }, 1e-5);
        }
        await check(g, matmulVec, inst, p, { M: 1, N: 1, K: 3 }, 1e-5);
      }
    });
  }

  for (const inst of matmulTile.instances.filter((i) => quantType(i) && !isK(quantType(i)))) {
    it(`matmul.tile/${inst.key}: dequantized in the kernel, defaults and sampled points, ragged M/N`, async () => {
      const space = enumerateVariants(matmulTile, inst, g.limits).kept;
      assert.ok(space.length > 0);
      assert.ok(space.every((p) => 32 % p.BK === 0));
      const points = [
        matmulTile.defaults,
        { ...matmulTile.defaults, VEC: 1, SHMEM_PAD: 0, BK: 8 },
        { ...matmulTile.defaults, VEC: 2, BK: 32, SHMEM_RESERVE: 8192 },
        { ...matmulTile.defaults, WG: 64, BM: 16, BN: 16, TM: 2, TN: 2 },
        ...samplePoints(space, 4, matmulTile.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulTile.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of QSHAPES) await check(g, matmulTile, inst, p, s, 1e-5);
      }
    });
  }

  for (const inst of matmulTile.instances.filter((i) => isK(quantType(i)))) {
    it(`matmul.tile/${inst.key}: ggml super-blocks dequantized in the kernel, ragged M/N, K=256/512, sampled points`, async () => {
      const space = enumerateVariants(matmulTile, inst, g.limits).kept;
      assert.ok(space.length > 0);
      assert.ok(space.every((p) => 32 % p.BK === 0 && p.BK % 8 === 0));
      const points = [
        matmulTile.defaults,
        { ...matmulTile.defaults, VEC: 1, SHMEM_PAD: 0, BK: 8 },
        { ...matmulTile.defaults, VEC: 2, BK: 32, SHMEM_RESERVE: 8192 },
        { ...matmulTile.defaults, WG: 64, BM: 16, BN: 16, TM: 2, TN: 2 },
        ...samplePoints(space, 2, matmulTile.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulTile.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of [{ M: 67, N: 9, K: 256 }, { M: 130, N: 33, K: 512 }, { M: 33, N: 70, K: 256 }, { M: 1, N: 1, K: 512 }]) {
          await check(g, matmulTile, inst, p, s, 1e-5);
        }
      }
    });
  }

  for (const inst of matmulVec.instances.filter((i) => isK(quantType(i)))) {
    it(`matmul.vec/${inst.key}: ggml super-blocks dequantized in the kernel, N=1..8, K=256/512, sampled points`, async () => {
      const space = enumerateVariants(matmulVec, inst, g.limits).kept;
      const sg = g.limits.subgroupSize;
      const points = [
        matmulVec.defaults,
        { ...matmulVec.defaults, WG: 64, RPT: 4, KSPLIT: sg, REDUCE: 0, VEC: 4 },
        { ...matmulVec.defaults, WG: 32, RPT: 1, KSPLIT: Math.max(4, sg / 2), REDUCE: 0, VEC: 2 },
        { ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: 2 * sg, REDUCE: 1, VEC: 1 },
        ...samplePoints(space, 2, matmulVec.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulVec.reject(p, inst, g.limits), null, fmtParams(p));
        for (let N = 1; N <= 8; N++) {
          await check(g, matmulVec, inst, p, { M: 67, N, K: 256 }, 1e-5);
          await check(g, matmulVec, inst, p, { M: 37, N, K: 512 }, 1e-5);
        }
        await check(g, matmulVec, inst, p, { M: 3, N: 2, K: 1280 }, 1e-5);
      }
    });
  }

  for (const inst of matmulVec.instances.filter((i) => quantType(i) && !isK(quantType(i)))) {
    it(`matmul.vec/${inst.key}: dequantized in the kernel, N=1..8, both reductions, sampled points`, async () => {
      const space = enumerateVariants(matmulVec, inst, g.limits).kept;
      const sg = g.limits.subgroupSize;
      const points = [
        matmulVec.defaults,
        { ...matmulVec.defaults, WG: 64, RPT: 4, KSPLIT: sg, REDUCE: 0, VEC: 4, UNROLL: 2 },
        { ...matmulVec.defaults, WG: 32, RPT: 1, KSPLIT: Math.max(4, sg / 2), REDUCE: 0, VEC: 2 },
        { ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: 2 * sg, REDUCE: 1, VEC: 1 },
        { ...matmulVec.defaults, WG: 8 * sg, RPT: 8, KSPLIT: 8 * sg, REDUCE: 1, VEC: 4 },
        { ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: sg, REDUCE: 0, VEC: 4, BSTAGE: 1 },
        { ...matmulVec.defaults, WG: 2 * sg, RPT: 1, KSPLIT: 2 * sg, REDUCE: 1, VEC: 4, BSTAGE: 1 },
        ...samplePoints(space, 3, matmulVec.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulVec.reject(p, inst, g.limits), null, fmtParams(p));
        for (let N = 1; N <= 8; N++) {
          await check(g, matmulVec, inst, p, { M: 67, N, K: 160 }, 1e-5);
          await check(g, matmulVec, inst, p, { M: 40, N, K: 256 }, 1e-5);
        }
        await check(g, matmulVec, inst, p, { M: 1, N: 1, K: 32 }, 1e-5);
        await check(g, matmulVec, inst, p, { M: 3, N: 2, K: 1056 }, 1e-5);
      }
    });
  }

  for (const inst of matmulVec.instances) {
    it(`matmul.vec/${inst.key}: fused epilogues (RMSNorm of B, swiglu over gate|up rows, residual add)`, async () => {
      const qt = quantType(inst);
      const f16 = inst.defines.WTYPE === 'f16';
      const sg = g.limits.subgroupSize;
      const points = [matmulVec.defaults, { ...matmulVec.defaults, WG: 64, RPT: 8, KSPLIT: sg, REDUCE: 0, VEC: 4 }, { ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: 2 * sg, REDUCE: 1, VEC: 2 }];
      if (qt === 'q8_0' || qt === 'q4_0') points.push({ ...matmulVec.defaults, WG: 4 * sg, RPT: 2, KSPLIT: sg, REDUCE: 0, VEC: 4, BSTAGE: 1 });
      const Ks = isK(qt) ? [256, 512] : qt ? [96, 160] : [131, 128];
      const epilogues: MatmulEpilogue[] = [{ norm: { eps: 1e-5 } }, { glu: true }, { norm: { eps: 1e-6 }, glu: true }, { residual: true }, { norm: { eps: 1e-5 }, residual: true }];
      for (const p of points)
        for (const K of Ks)
          for (const N of [1, 3, 8])
            for (const epilogue of epilogues) {
              const M = 37;
              const rowsA = epilogue.glu ? 2 * M : M;
              const a32 = randomF32(rowsA * K);
              const b32 = randomF32(N * K).map((v) => v * 3);
              const g32 = randomF32(K);
              const d0 = randomF32(N * M);
              const q = qt ? quantizeAny(qt, a32) : null;
              const a = f16 ? toF16(a32) : null;
              const aUpload = q ? gpuWeights(qt!, q) : a ? a.bits : a32;
              const aRef = q ? dequantize(qt!, q, rowsA * K) : a ? a.values : a32;
              const s: MatmulShape = { M, N, K, epilogue };
              const out = await runVariant(g, matmulVec, inst, p, s, { A: aUpload, B: b32, G: g32 }, { D: epilogue.residual ? { init: d0 } : { bytes: 4 * N * M } });
              // float64 reference: rms_norm, the product with all rows of A, swiglu, residual.
              const bRef = epilogue.norm ? rmsNormReference({ rows: N, cols: K, eps: epilogue.norm.eps }, b32, g32) : b32;
              const prod = matmulReference({ M: rowsA, N, K }, aRef, bRef);
              const ref = new Float64Array(N * M);
              for (let n = 0; n < N; n++)
                for (let m = 0; m < M; m++) {
                  let y = prod[n * rowsA + m];
                  if (epilogue.glu) y = (y / (1 + Math.exp(-y))) * prod[n * rowsA + M + m];
                  ref[n * M + m] = y + (epilogue.residual ? d0[n * M + m] : 0);
                }
              const err = relativeError(new Float32Array(out.D), ref);
              assert.ok(err < 1e-5, `matmul.vec/${inst.key} ${fmtParams(p)} N=${N} K=${K} ${JSON.stringify(epilogue)}: rel err ${err}`);
            }
    });
  }

});
