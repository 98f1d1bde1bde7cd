/**
 * matmul.coopmat against the float64 reference, every instance (f16, f32, q8_0, q4_0, q4_k, q6_k), and
 * matmul.coopmat2 (f16).
 *
 * - CPU: reject() rules (device shape, WG = WM*WN*subgroupSize, squarest warp grid, split-K only for
 *   BN <= 64, shared memory), the pruned space sizes on NVIDIA- and AMD-like limits, plan() (split-K
 *   arithmetic, PRE_B and reduce steps, scratch layout), supports() / plan() for K off the block size,
 *   the tuner's k-quant host quantizer.
 * - "emulated" (any Vulkan device, lavapipe included): the same template rendered with EMULATE, where
 *   the coopmat load / multiply-add / store calls are plain code with the KHR semantics, checks all the
 *   rest of the kernel (global -> register -> shared staging, every weight format's dequantization,
 *   ragged M/N/K, edge stores through shared memory, split-K partials and reduce, the B -> f16 pass,
 *   one- and two-stage pipelines) on devices without cooperative matrices. WG is WM*WN*(the device's
 *   subgroup size).
 * - "on a coopmat device": the real instances, defaults plus chosen and sampled points of the device's
 *   pruned space; skipped with a message without VK_KHR_cooperative_matrix or the compiler extension.
 * - matmul.coopmat2 (f16) likewise on a VK_NV_cooperative_matrix2 device.
 * Inputs: uniform [-1, 1); q8_0 / q4_0 / q4_k / q6_k weights quantized by runtime/gguf/quant (ggml's
 * reference quantizers). The kernel rounds A (dequantized) and B to f16, so the reference multiplies the
 * f16-rounded values in float64: what is left is f32 accumulation order, bound 1e-4 relative L2 (with
 * fewer than 64 outputs relative to || |A| |B|^T ||). D and scratch are poisoned with NaN first.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { findCompiler, missingExtensions } from '../generator/compile';
import { portableLimits } from '../generator/device-limits';
import { MAX_SPLITS, coopmatSplit, matmulCoopmat as fam } from '../generator/families/matmul_coopmat';
import { matmulCoopmat2 as fam2 } from '../generator/families/matmul_coopmat2';
import { type MatmulShape, type QuantType, QUANT_BLOCKS } from '../generator/ops';
import { enumerateVariants, instanceUnsupported } from '../generator/prune';
import type { CoopmatShape } from '../native/vulkan/api';
import type { DeviceLimits, KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { GgmlType } from '../runtime/gguf';
import { quantize as ggmlQuantize } from '../runtime/gguf/quant';
import { toF16 } from '../tuner/reference/f16';
import { matmulReference, relativeError } from '../tuner/reference/matmul';
import { dequantize } from '../tuner/reference/quant';
import { quantize as tunerQuantize } from '../tuner/reference/quantize';
import { type Gpu, closeGpu, fmtParams, gpuWeights, openGpu, randomF32, runVariant, samplePoints } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

const shape16 = (M: number, N: number, K: number): CoopmatShape => ({ M, N, K, aType: 'f16', bType: 'f16', cType: 'f32', resultType: 'f32', scope: 'subgroup' });
/** H100/H200-like: subgroup 32, 48 KB, 16x16x16 and 16x8x{16,8} f16 shapes. */
const NV: DeviceLimits = {
  ...portableLimits,
  subgroupSize: 32,
  maxSharedMemoryBytes: 49152,
  maxWorkgroupInvocations: 1024,
  maxWorkgroupSizeX: 1024,
  coopmat: true,
  shaderFloat16: true,
  coopmatShapes: [shape16(16, 16, 16), shape16(16, 8, 16), shape16(16, 8, 8)],
};
/** RDNA3-like: subgroup 64, 64 KB, 16x16x16 only. */
const AMD: DeviceLimits = { ...NV, subgroupSize: 64, maxSharedMemoryBytes: 65536, coopmatShapes: [shape16(16, 16, 16)] };

const QTYPES: Record<string, QuantType> = { q8_0: 'q8_0', q4_0: 'q4_0', q4_k: 'q4_k', q6_k: 'q6_k' };
const GGML: Record<QuantType, GgmlType> = { q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0, q4_k: GgmlType.Q4_K, q6_k: GgmlType.Q6_K };
const norm = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0));

/** Shapes per instance: ragged M/N/K (K in whole blocks for the quantized ones), N = 1, 8 and ~512. */
function shapesFor(inst: TemplateInstance): MatmulShape[] {
  const qt = QTYPES[String(inst.defines.WTYPE)];
  if (!qt) {
    return [
      { M: 67, N: 13, K: 131 },
      { M: 64, N: 32, K: 128 },
      { M: 1, N: 1, K: 1 },
      { M: 130, N: 37, K: 520 },
      { M: 33, N: 70, K: 36 },
      { M: 96, N: 8, K: 200 },
      { M: 200, N: 515, K: 72 },
    ];
  }
  if (QUANT_BLOCKS[qt].elems === 32) {
    return [
      { M: 67, N: 13, K: 96 },
      { M: 64, N: 32, K: 128 },
      { M: 1, N: 1, K: 32 },
      { M: 130, N: 37, K: 544 },
      { M: 33, N: 70, K: 64 },
      { M: 96, N: 8, K: 160 },
      { M: 200, N: 515, K: 64 },
    ];
  }
  return [
    { M: 67, N: 9, K: 256 },
    { M: 130, N: 33, K: 512 },
    { M: 1, N: 1, K: 256 },
    { M: 33, N: 70, K: 768 },
    { M: 96, N: 8, K: 256 },
    { M: 200, N: 515, K: 256 },
  ];
}

/** Run one variant on fresh inputs and compare with the float64 reference of the f16-rounded operands. */
async function check(g: Gpu, inst: TemplateInstance, p: Params, s: MatmulShape, bound = 1e-4, family: KernelFamily<MatmulShape> = fam): Promise<void> {
  const a32 = randomF32(s.M * s.K);
  const b32 = randomF32(s.N * s.K);
  const qt = QTYPES[String(inst.defines.WTYPE)];
  let aUpload: Float32Array | Uint16Array | Uint32Array;
  let aExact: ArrayLike<number>;
  if (qt) {
    const q = ggmlQuantize(GGML[qt], a32);
    aUpload = gpuWeights(qt, q);
    aExact = dequantize(qt, q, s.M * s.K);
  } else if (inst.defines.WTYPE === 'f16') {
    const h = toF16(a32);
    aUpload = h.bits.length % 2 ? Uint16Array.from([...h.bits, 0]) : h.bits;
    aExact = h.values;
  } else {
    aUpload = a32;
    aExact = a32;
  }
  const aRef = toF16(aExact).values;
  const bRef = toF16(b32).values;
  const scratchBytes = Math.max(16, family.plan(s, p, inst).scratchBytes);
  const out = await runVariant(g, family, inst, p, s, { A: aUpload, B: b32 }, { D: { bytes: 4 * s.M * s.N }, scratch: { bytes: scratchBytes } });
  const d = new Float32Array(out.D);
  const nan = d.findIndex((v) => !Number.isFinite(v));
  assert.equal(nan, -1, `${family.id}/${inst.key} ${fmtParams(p)} M=${s.M} N=${s.N} K=${s.K}: D[${nan}] = ${d[nan]} (unwritten or non-finite)`);
  const ref = matmulReference(s, aRef, bRef);
  const err =
    ref.length >= 64
      ? relativeError(d, ref)
      : relativeError(d, ref) * (norm(ref) / norm(matmulReference(s, Array.from(aRef, Math.abs), Array.from(bRef, Math.abs))));
  assert.ok(err < bound, `${family.id}/${inst.key} ${fmtParams(p)} M=${s.M} N=${s.N} K=${s.K}: rel err ${err} >= ${bound}`);
}

/** A parameter point: the defaults with `over`, WG derived from the subgroup size. */
const point = (sg: number, over: Partial<Params>): Params => {
  const p = { ...fam.defaults, ...over } as Params;
  return { ...p, WG: p.WM * p.WN * sg };
};

describe('matmul.coopmat schema (CPU)', () => {
  it('reject(): device shape, WG, warp grid, split-K, shared memory; defaults valid on NVIDIA-like limits', () => {
    const inst = fam.instances[0];
    assert.equal(fam.reject(fam.defaults, inst, NV), null);
    assert.match(String(fam.reject(fam.defaults, inst, portableLimits)), /no cooperative matrices/);
    assert.match(String(fam.reject({ ...fam.defaults, CN: 8 }, inst, NV)), /larger coopmat shape/);
    assert.match(String(fam.reject({ ...fam.defaults, CM: 8 }, inst, NV)), /not supported/);
    assert.match(String(fam.reject({ ...fam.defaults, WG: 128 }, inst, NV)), /WG != WM\*WN\*subgroupSize/);
    assert.match(String(fam.reject({ ...fam.defaults, WM: 4, WN: 2 }, inst, NV)), /squarer warp tile/); // 32x64 vs 64x32
    assert.match(String(fam.reject({ ...fam.defaults, SPLIT_WGS: 128 }, inst, NV)), /split-K only with BN <= 64/);
    assert.match(String(fam.reject({ ...fam.defaults, BK: 64, STAGES: 2 }, inst, NV)), /shared memory/);
    assert.equal(fam.reject({ ...fam.defaults, BK: 64, STAGES: 1 }, inst, NV), null);
    assert.match(String(fam.reject({ ...fam.defaults, BM: 64, BN: 16, WM: 4, WN: 1, WG: 128 }, inst, NV)), /tile not a multiple|under 1024/);
    assert.equal(fam.reject({ ...fam.defaults, BM: 256, BN: 16, WM: 4, WN: 1, WG: 128, SPLIT_WGS: 512 }, inst, NV), null);
    assert.match(String(fam.reject({ ...fam.defaults, BM: 256, BN: 256, WM: 2, WN: 4 }, inst, NV)), /over 128 accumulators|shared memory/);
  });

  it('pruned spaces stay small and valid (NVIDIA-like, AMD-like)', () => {
    for (const [name, limits, max] of [['nv', NV, 200], ['amd', AMD, 400]] as const) {
      for (const inst of fam.instances) {
        const { kept } = enumerateVariants(fam, inst, limits);
        assert.ok(kept.length >= 50 && kept.length <= max, `${name}/${inst.key}: ${kept.length} points`);
        for (const p of kept) {
          assert.equal(p.WG, p.WM * p.WN * limits.subgroupSize);
          assert.ok(fam.sharedMemoryBytes(p, inst) <= limits.maxSharedMemoryBytes);
          assert.equal(p.BM % (p.WM * p.CM), 0);
          assert.equal(p.BN % (p.WN * p.CN), 0);
        }
        const tiles = new Set(kept.map((p) => `${p.BM}x${p.BN}`));
        for (const t of ['128x128', '128x64', '256x32', '64x64']) assert.ok(tiles.has(t), `${name}/${inst.key}: no ${t} tile`);
      }
    }
  });

  it('sharedMemoryBytes mirrors the template (stages vs edge staging)', () => {
    assert.equal(fam.sharedMemoryBytes(fam.defaults, fam.instances[0]), 2 * (128 + 128) * 40 * 2);
    assert.equal(fam.sharedMemoryBytes({ ...fam.defaults, BK: 64, STAGES: 1 }, fam.instances[0]), (128 + 128) * 72 * 2);
    // edge staging (1 KB of f32 per 16x16 coopmat and subgroup) larger than the stages
    assert.equal(fam.sharedMemoryBytes({ ...fam.defaults, BM: 16, BN: 16, BK: 32, STAGES: 1, WM: 4, WN: 4 }, fam.instances[0]), 16 * 16 * 16 * 4);
  });

  it('plan(): split-K arithmetic, PRE_B and reduce steps, scratch layout', () => {
    const inst = fam.instances[0];
    const one = fam.plan({ M: 4096, N: 512, K: 14336 }, fam.defaults, inst);
    assert.equal(one.steps.length, 1);
    assert.deepEqual(one.steps[0].groups, [32, 4, 1]);
    assert.equal(one.scratchBytes, 0);
    const push = new DataView(one.steps[0].push.buffer);
    assert.deepEqual([0, 4, 8, 12, 16].map((o) => push.getUint32(o, true)), [4096, 512, 14336, 1, 14336]);

    const p = { ...fam.defaults, BM: 256, BN: 32, WM: 4, WN: 1, WG: 128, SPLIT_WGS: 128, PRE_B: 1 };
    const s = { M: 2048, N: 16, K: 2050 };
    const sp = coopmatSplit(s, p);
    // 8 workgroups -> 16 splits wanted; 65 K steps of 32 -> 5 per split -> 13 splits
    assert.deepEqual(sp, { splits: 13, kChunk: 160, bHalfBytes: Math.ceil((16 * 2056) / 8) * 16, scratchBytes: sp.bHalfBytes + 13 * 16 * 2048 * 4 });
    const plan = fam.plan(s, p, inst);
    assert.deepEqual(plan.steps.map((x) => x.specOverrides?.PASS ?? 0), [2, 0, 1]);
    // the passes' pipelines do not depend on the tile: pinned overrides, WG and PRE_B kept
    const other = fam.plan(s, { ...p, BM: 128, BN: 64, WM: 4, WN: 1, BK: 64, STAGES: 2 }, inst);
    assert.deepEqual(other.steps[0].specOverrides, plan.steps[0].specOverrides);
    assert.ok(!('WG' in plan.steps[0].specOverrides!) && !('PRE_B' in plan.steps[0].specOverrides!));
    assert.ok(fam.sharedMemoryBytes({ ...p, ...plan.steps[0].specOverrides }, inst) <= 16384);
    assert.deepEqual(plan.steps[0].groups, [Math.ceil((16 * 2056) / 8 / 128), 1, 1]);
    assert.deepEqual(plan.steps[1].groups, [8, 1, 13]);
    assert.deepEqual(plan.steps[2].groups, [Math.ceil((2048 * 16) / 4 / 128), 1, 1]);
    assert.equal(plan.scratchBytes, sp.scratchBytes);
    // every split has at least one K step, the last ends at K
    for (const [K, want] of [[32, 1], [33, 2], [64 * 32, 32], [1e6, MAX_SPLITS]] as const) {
      const x = coopmatSplit({ M: 64, N: 8, K }, { ...p, SPLIT_WGS: 512, BK: 32 });
      assert.equal(x.splits, Math.min(want, MAX_SPLITS), `K=${K}`);
      assert.ok((x.splits - 1) * x.kChunk < K && x.splits * x.kChunk >= K, `K=${K}`);
    }
    assert.equal(coopmatSplit({ M: 64, N: 8, K: 4096 }, { ...p, SPLIT_WGS: 0 }).splits, 1);
  });

  it('supports() / plan() need whole blocks of the quantized instances', () => {
    for (const inst of fam.instances) {
      const qb = QTYPES[String(inst.defines.WTYPE)] ? QUANT_BLOCKS[QTYPES[String(inst.defines.WTYPE)]].elems : 1;
      assert.equal(fam.supports({ M: 8, N: 9, K: 512 }, inst), true, inst.key);
      assert.equal(fam.supports({ M: 8, N: 9, K: 544 }, inst), qb <= 32, inst.key);
      assert.equal(fam.supports({ M: 8, N: 9, K: 48 }, inst), qb === 1, inst.key);
      if (qb > 1) assert.throws(() => fam.plan({ M: 8, N: 9, K: qb + 16 }, fam.defaults, inst), new RegExp(`multiple of ${qb}`));
    }
    assert.deepEqual(fam.instances.map((i) => i.key), ['f16', 'f32', 'q8_0', 'q4_0', 'q4_k', 'q6_k']);
  });

  it("tuner host quantizer: q4_k / q6_k blocks are valid and close (tuner/reference/quantize.ts)", () => {
    const x = randomF32(256 * 6);
    x.fill(0, 256, 512); // an all-zero super-block
    for (const [t, tol] of [['q4_k', 0.09], ['q6_k', 0.02]] as const) {
      const q = tunerQuantize(t, x);
      assert.equal(q.length, 6 * QUANT_BLOCKS[t].bytes);
      const y = dequantize(t, q, x.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] - x[i]));
      assert.ok(worst < tol, `${t}: max error ${worst}`);
      for (let i = 256; i < 512; i++) assert.equal(y[i], 0, `${t} zero block ${i}`);
    }
  });
});

describe('matmul.coopmat emulated (coopmat calls as plain code) on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  const sg = g.limits.subgroupSize;
  // template-level validity only (the device has no coopmat): shapes of tiles, shared memory
  const fits = (p: Params, inst: TemplateInstance) =>
    p.BM % (p.WM * p.CM) === 0 && p.BN % (p.WN * p.CN) === 0 && p.WG <= g.limits.maxWorkgroupInvocations && fam.sharedMemoryBytes(p, inst) <= g.limits.maxSharedMemoryBytes;
  const points = [
    point(sg, { BM: 128, BN: 128, WM: 2, WN: 4, BK: 32, STAGES: 1 }),
    point(sg, { BM: 64, BN: 64, WM: 2, WN: 2, BK: 64, STAGES: 1, PRE_B: 1 }),
    point(sg, { BM: 64, BN: 32, WM: 2, WN: 1, BK: 64, STAGES: 2, SPLIT_WGS: 512 }),
    point(sg, { BM: 256, BN: 16, WM: 4, WN: 1, BK: 32, STAGES: 1, SPLIT_WGS: 128 }),
    point(sg, { BM: 128, BN: 64, WM: 4, WN: 2, BK: 64, STAGES: 1, SPLIT_WGS: 512, PRE_B: 1 }),
    point(sg, { BM: 64, BN: 128, WM: 1, WN: 4, BK: 32, STAGES: 2 }),
  ];
  it('points fit the device', () => {
    assert.ok(sg >= 8, `the emulation holds a 16x16 accumulator in 32 values per invocation; subgroup ${sg} < 8`);
    for (const p of points) assert.ok(fits(p, fam.instances[0]), fmtParams(p));
  });
  for (const base of fam.instances) {
    const inst: TemplateInstance = { key: `${base.key}.emulated`, defines: { ...base.defines, EMULATE: true } };
    it(`matmul.coopmat/${inst.key}: staging, dequantization, edges, split-K, PRE_B`, async () => {
      for (const p of points) for (const s of shapesFor(base)) await check(g, inst, p, s);
    });
  }
});

describe('matmul.coopmat on a coopmat device', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  for (const inst of fam.instances) {
    it(`matmul.coopmat/${inst.key}: defaults, chosen and sampled points`, async (t) => {
      const compiler = await findCompiler();
      const missing = missingExtensions(compiler, inst.requiresCompilerExtensions);
      const unsupported = instanceUnsupported(inst, g.limits);
      if (missing.length || unsupported) {
        t.skip(`skipped: ${missing.length ? `compiler lacks ${missing.join(', ')}` : `${unsupported} (no VK_KHR_cooperative_matrix f16 shapes)`}`);
        return;
      }
      const space = enumerateVariants(fam, inst, g.limits).kept;
      if (space.length === 0) {
        t.skip('skipped: no matmul.coopmat variant fits this device');
        return;
      }
      const sg = g.limits.subgroupSize;
      const chosen = [
        fam.defaults,
        point(sg, { BM: 128, BN: 128, WM: 2, WN: 4, BK: 64, STAGES: 1, PRE_B: 1 }),
        point(sg, { BM: 256, BN: 128, WM: 4, WN: 2, BK: 32, STAGES: 1 }),
        point(sg, { BM: 128, BN: 64, WM: 2, WN: 2, BK: 32, STAGES: 2, SPLIT_WGS: 512 }),
        point(sg, { BM: 256, BN: 16, WM: 4, WN: 1, BK: 64, STAGES: 1, SPLIT_WGS: 128, PRE_B: 1 }),
        point(sg, { BM: 64, BN: 64, WM: 2, WN: 2, BK: 64, STAGES: 2 }),
      ].filter((p) => fam.reject(p, inst, g.limits) === null);
      const pts = [...chosen, ...samplePoints(space, 4, fam.defaults)];
      const big: MatmulShape = { M: 512, N: 256, K: QTYPES[String(inst.defines.WTYPE)] ? 1024 : 1000 };
      for (const p of pts) {
        assert.equal(fam.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of [...shapesFor(inst), big]) await check(g, inst, p, s);
      }
    });
  }
});

describe('matmul.coopmat2 on a VK_NV_cooperative_matrix2 device', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  for (const inst of fam2.instances) {
    it(`matmul.coopmat2/${inst.key}: defaults, chosen and sampled points, clamped and unclamped tiles, split-K`, async (t) => {
      const compiler = await findCompiler();
      const missing = missingExtensions(compiler, inst.requiresCompilerExtensions);
      const unsupported = instanceUnsupported(inst, g.limits);
      if (missing.length || unsupported) {
        t.skip(`skipped: ${missing.length ? `compiler lacks ${missing.join(', ')}` : `${unsupported} (no VK_NV_cooperative_matrix2)`}`);
        return;
      }
      const space = enumerateVariants(fam2, inst, g.limits).kept;
      const chosen = [
        fam2.defaults,
        { ...fam2.defaults, BM: 128, BN: 256, BK: 64 },
        { ...fam2.defaults, WG: 128, BM: 64, BN: 64, BK: 32 },
        { ...fam2.defaults, BM: 256, BN: 32, BK: 128, SPLIT_WGS: 512 },
        { ...fam2.defaults, WG: 128, BM: 128, BN: 64, BK: 64, SPLIT_WGS: 128 },
      ].filter((p) => fam2.reject(p, inst, g.limits) === null);
      // interior tiles of whole K steps take the unclamped path: M, N multiples of the tile, K % 8 == 0
      const shapes = [...shapesFor(inst), { M: 512, N: 256, K: 1024 }, { M: 256, N: 256, K: 264 }];
      for (const p of [...chosen, ...samplePoints(space, 4, fam2.defaults)]) {
        assert.equal(fam2.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of shapes) await check(g, inst, p, s, 1e-4, fam2);
      }
    });
  }
});
