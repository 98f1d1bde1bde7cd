/**
 * ffn.vecq (the decode feed-forward block in one dispatch) on the first Vulkan device, against the float64
 * reference of the same quantized weights (tuner/reference/ops.ts ffnReference; weights quantized with ggml's
 * rules, tuner/reference/quantize.ts). Y starts at zero (the op contract) and must end at X + FFN(X): the
 * error of Y - X against FFN(X) is bounded by FFN_TOLERANCE (two 8-bit roundings); Z (the next call's Y)
 * must end all zeros whatever it held. Cases: N = 1..3 and 8, dims with odd block counts per lane, hidden
 * widths of 1-12 blocks, every HB, both reductions (KSPLIT < and = subgroup size), DU and UNROLL > 1, PREFETCH.
 * Instances q8_0, q4_0 (GPU layout) and q4_k, q4_k.q6_k (Q4_K_M: ggml's layout, dim and hidden multiples of 256).
 * Schema checks (shape bounds, plan errors) run on the CPU. Skips without a Vulkan device, without integer
 * dot products or float atomics, or when the GLSL compiler lacks their extensions.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FFN_TOLERANCE, ffnVecq as fam } from '../generator/families/ffn_vecq';
import { type FfnShape, type QuantType, ffnInstanceTypes } from '../generator/ops';
import { enumerateVariants } from '../generator/prune';
import { type Params, variantSupports } from '../generator/schema';
import { relativeError } from '../tuner/reference/matmul';
import { ffnReference } from '../tuner/reference/ops';
import { dequantize } from '../tuner/reference/quant';
import { quantize } from '../tuner/reference/quantize';
import { closeGpu, fmtParams, gpuWeights, instanceSkipReason, openGpu, randomF32, runVariant, samplePoints } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

describe('ffn.vecq schema (CPU)', () => {
  it('admits N <= 8 and whole blocks, hidden a multiple of 32 * HB, and plan() names what does not fit', () => {
    const inst = fam.instances[0];
    const s: FfnShape = { N: 1, dim: 2048, hidden: 8192, eps: 1e-5 };
    assert.ok(fam.supports(s, inst));
    assert.ok(!fam.supports({ ...s, N: 9 }, inst));
    assert.ok(!fam.supports({ ...s, dim: 2040 }, inst));
    assert.ok(variantSupports(fam, { ...s, hidden: 96 }, { ...fam.defaults, HB: 1 }, inst));
    assert.ok(!variantSupports(fam, { ...s, hidden: 96 }, { ...fam.defaults, HB: 2 }, inst));
    assert.throws(() => fam.plan({ ...s, hidden: 96 }, { ...fam.defaults, HB: 2 }, inst), /hidden = 96 is not a multiple of 32 \* HB = 64/);
    // quantized x lives in shared memory: N * dim <= 16384
    assert.ok(!variantSupports(fam, { ...s, N: 8, dim: 4096 }, fam.defaults, inst));
    assert.throws(() => fam.plan({ ...s, N: 8, dim: 4096 }, fam.defaults, inst), /N \* dim = 32768 exceeds 16384/);
    const plan = fam.plan(s, { ...fam.defaults, HB: 4 }, inst);
    assert.deepEqual(plan.steps[0].groups, [64, 1, 1]);
    assert.deepEqual(plan.steps[0].specOverrides, { NCOLS: 1, KB: 64 });
  });
});

describe('ffn.vecq on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  for (const inst of fam.instances) {
    it(`ffn.vecq/${inst.key}: Y = X + FFN(X) from zero, Z cleared, over N, shapes and parameters`, async (t) => {
      const g = gpu!;
      const skip = await instanceSkipReason(g, inst);
      if (skip) return t.skip(skip);
      const types = ffnInstanceTypes(inst.key);
      const up = types.up as QuantType, down = types.down as QuantType;
      const kq = up.endsWith('_k');
      const space = enumerateVariants(fam, inst, g.limits).kept;
      const sg = g.limits.subgroupSize;
      const points: Params[] = [
        { ...fam.defaults, WG: 128, KSPLIT: Math.min(8, sg), HB: 1, DU: 1 },
        { ...fam.defaults, WG: 128, KSPLIT: sg, RPT: 4, HB: 4, DU: 4, UNROLL: 2 },
        { ...fam.defaults, WG: 256, KSPLIT: 4, RPT: 1, HB: 2, DU: 2, UNROLL: 2 },
        { ...fam.defaults, WG: 128, KSPLIT: Math.min(8, sg), RPT: 2, HB: 2, DU: 4, UNROLL: 2, PREFETCH: 1 },
        { ...fam.defaults, WG: 256, KSPLIT: 4, RPT: 4, HB: 1, DU: 1, PREFETCH: 1 },
        { ...fam.defaults, WG: 128, KSPLIT: 4, RPT: 2, HB: 1, DU: 2, UNROLL: 4, PREFETCH: 1 },
        ...samplePoints(space, kq ? 1 : 2),
      ].filter((p) => space.some((q) => fmtParams(q) === fmtParams(p)));
      assert.ok(points.length >= 4, `parameter points: ${points.length}`);
      // K-quants: whole 256-value super-blocks (rows of 1-3 of them, odd super-block indices for q6_k's shifts)
      const shapes: FfnShape[] = kq
        ? [
            { N: 1, dim: 256, hidden: 512, eps: 1e-5 },
            { N: 2, dim: 768, hidden: 256, eps: 1e-6 },
            { N: 8, dim: 256, hidden: 256, eps: 1e-5 },
          ]
        : [
            { N: 1, dim: 96, hidden: 128, eps: 1e-5 },
            { N: 2, dim: 320, hidden: 384, eps: 1e-6 },
            { N: 3, dim: 64, hidden: 256, eps: 1e-5 },
            { N: 8, dim: 128, hidden: 128, eps: 1e-5 },
          ];
      let checked = 0;
      for (const p of points) {
        for (const s of shapes) {
          if (!variantSupports(fam, s, p, inst)) continue;
          const gu = quantize(up, randomF32(2 * s.hidden * s.dim));
          const wd = quantize(down, randomF32(s.dim * s.hidden));
          const x = randomF32(s.N * s.dim).map((v) => v * 3);
          const gw = randomF32(s.dim);
          const zInit = randomF32(s.N * s.dim);
          const out = await runVariant(g, fam, inst, p, s,
            { Wgu: gpuWeights(up, gu), X: x, G: gw, Wd: gpuWeights(down, wd) },
            { Y: { init: new Float32Array(s.N * s.dim) }, Z: { init: zInit } });
          const y = new Float32Array(out.Y);
          const w = { wgu: dequantize(up, gu, 2 * s.hidden * s.dim), wd: dequantize(down, wd, s.dim * s.hidden), g: gw };
          const ffn = ffnReference(s, w, x, false);
          const err = relativeError(Float64Array.from(y, (v, i) => v - x[i]), ffn);
          assert.ok(err <= FFN_TOLERANCE, `${fmtParams(p)} ${JSON.stringify(s)}: relative error of FFN(X) ${err.toExponential(2)} > ${FFN_TOLERANCE}`);
          // the residual itself is exact up to f32 rounding of the sum
          const full = ffnReference(s, w, x);
          assert.ok(relativeError(y, full) <= FFN_TOLERANCE, `${fmtParams(p)} ${JSON.stringify(s)}: Y vs X + FFN(X)`);
          assert.ok(new Float32Array(out.Z).every((v) => v === 0), `${fmtParams(p)} ${JSON.stringify(s)}: Z not cleared`);
          checked++;
        }
      }
      assert.ok(checked >= (kq ? 6 : 8), `cases checked: ${checked}`);
    });
  }
});
