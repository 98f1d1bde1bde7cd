/**
 * The untuned ops (rms_norm, add_rms_norm, rope_kv, swiglu, add, embed, argmax) vs their float64 references on
 * the first Vulkan device, defaults and other WG values, ragged sizes, and grids over 65535 groups.
 * Outputs are poisoned with NaN before each run; inputs are fresh random values. Skips without a device.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { add } from '../generator/families/add';
import { argmax } from '../generator/families/argmax';
import { embed } from '../generator/families/embed';
import { addRmsNorm } from '../generator/families/add_rms_norm';
import { rmsNorm } from '../generator/families/rms_norm';
import { ropeKv } from '../generator/families/rope_kv';
import { swiglu } from '../generator/families/swiglu';
import { type QuantType, type RopeKvShape, type SwigluShape, isKvQuantType } from '../generator/ops';
import { GgmlType } from '../runtime/gguf';
import { dequantize, quantize } from '../runtime/gguf/quant';
import { enumerateVariants } from '../generator/prune';
import type { KernelFamily, Params } from '../generator/schema';
import { f16ToF32Array, toF16 } from '../tuner/reference/f16';
import { relativeError } from '../tuner/reference/matmul';
import { kvQuantize } from '../tuner/reference/kv-cache';
import { assertWithinQuantStep, untouchedRowsAndValues } from './support/kv-check';
import {
  addReference,
  argmaxReference,
  embedReference,
  rmsNormReference,
  ropeKvReference,
  swigluReference,
} from '../tuner/reference/ops';
import { type Gpu, closeGpu, gpuWeights, openGpu, randomF32, runVariant } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

/** Defaults plus the smallest and largest WG the device accepts. */
function wgPoints(g: Gpu, family: KernelFamily<any>): Params[] {
  const kept = enumerateVariants(family, family.instances[0], g.limits).kept;
  const out = [family.defaults, kept[0], kept[kept.length - 1]];
  return out.filter((p, i) => out.findIndex((q) => q.WG === p.WG) === i);
}

function expectClose(out: ArrayLike<number>, ref: ArrayLike<number>, bound: number, what: string): void {
  const err = relativeError(out, ref);
  assert.ok(err < bound, `${what}: rel err ${err} >= ${bound}`);
}

describe('untuned op kernels on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;
  const inst0 = (f: KernelFamily<any>) => f.instances[0];

  it('rms_norm', async () => {
    for (const p of wgPoints(g, rmsNorm))
      for (const s of [{ rows: 3, cols: 67, eps: 1e-5 }, { rows: 5, cols: 512, eps: 1e-6 }, { rows: 1, cols: 1, eps: 1e-5 }]) {
        const x = randomF32(s.rows * s.cols);
        const w = randomF32(s.cols);
        const out = await runVariant(g, rmsNorm, inst0(rmsNorm), p, s, { X: x, W: w }, { Y: { bytes: 4 * x.length } });
        expectClose(new Float32Array(out.Y), rmsNormReference(s, x, w), 1e-5, `rms_norm WG=${p.WG} ${JSON.stringify(s)}`);
      }
  });

  it('add_rms_norm: X += R written back, Y = rms_norm of the sum', async () => {
    for (const p of wgPoints(g, addRmsNorm))
      for (const s of [{ rows: 3, cols: 67, eps: 1e-5 }, { rows: 5, cols: 512, eps: 1e-6 }, { rows: 1, cols: 1, eps: 1e-5 }]) {
        const x = randomF32(s.rows * s.cols);
        const r = randomF32(s.rows * s.cols);
        const w = randomF32(s.cols);
        const out = await runVariant(g, addRmsNorm, inst0(addRmsNorm), p, s, { R: r, W: w }, { X: { init: x }, Y: { bytes: 4 * x.length } });
        const sum = addReference({ n: x.length }, x, r);
        expectClose(new Float32Array(out.X), sum, 1e-6, `add_rms_norm X WG=${p.WG} ${JSON.stringify(s)}`);
        expectClose(new Float32Array(out.Y), rmsNormReference(s, sum, w), 1e-5, `add_rms_norm Y WG=${p.WG} ${JSON.stringify(s)}`);
      }
  });

  it('rope_kv (adjacent and neox; fused and separate Q/K/V sources; static and dynamic position; f32 and f16 caches)', async () => {
    for (const inst of ropeKv.instances.filter((i) => !isKvQuantType(i.key)))
      for (const p of wgPoints(g, ropeKv))
        for (const mode of ['adjacent', 'neox'] as const)
          for (const geo of [
            { tokens: 3, heads: 4, kvHeads: 2, D: 64, pos0: 7, kvStride: 16, fused: true },
            { tokens: 1, heads: 3, kvHeads: 1, D: 18, pos0: 15, kvStride: 16, fused: false },
            { tokens: 2, heads: 2, kvHeads: 2, D: 8, pos0: 0, kvStride: 4, fused: true },
          ])
            for (const dynamicPos of [false, true]) {
              const { fused, ...dims } = geo;
              const qDim = dims.heads * dims.D;
              const kvDim = dims.kvHeads * dims.D;
              const row = qDim + 2 * kvDim;
              const s: RopeKvShape = {
                ...dims, base: 10000, mode, dynamicPos,
                // dynamic: the recorded pos0 is wrong on purpose; the kernel must read step[0].
                ...(dynamicPos ? { pos0: 0 } : {}),
                qStride: fused ? row : qDim, kStride: fused ? row : kvDim, vStride: fused ? row : kvDim,
                qOffset: 0, kOffset: fused ? qDim : 0, vOffset: fused ? qDim + kvDim : 0,
              };
              const pos = dims.pos0;
              const qkv = randomF32(dims.tokens * row);
              const qs = fused ? qkv : randomF32(dims.tokens * qDim);
              const ks = fused ? qkv : randomF32(dims.tokens * kvDim);
              const vs = fused ? qkv : randomF32(dims.tokens * kvDim);
              const cacheLen = dims.kvHeads * dims.kvStride * dims.D;
              const f16 = inst.key === 'f16';
              const c0 = randomF32(cacheLen);
              const c1 = randomF32(cacheLen);
              const h0 = f16 ? toF16(c0) : null;
              const h1 = f16 ? toF16(c1) : null;
              const out = await runVariant(
                g, ropeKv, inst, p, s,
                { Qsrc: qs, Ksrc: ks, Vsrc: vs, step: Uint32Array.of(pos, 0, 0, 0) },
                { Q: { bytes: 4 * dims.tokens * qDim }, Kcache: { init: h0 ? h0.bits : c0 }, Vcache: { init: h1 ? h1.bits : c1 } },
              );
              const conv = f16 ? (v: number) => toF16([v]).values[0] : undefined;
              const ref = ropeKvReference(s, { q: qs, k: ks, v: vs }, { k: h0 ? h0.values : c0, v: h1 ? h1.values : c1 }, pos, conv);
              const what = `rope_kv/${inst.key} WG=${p.WG} ${mode} dynamic=${dynamicPos} ${JSON.stringify(geo)}`;
              const read = (b: ArrayBuffer) => (f16 ? f16ToF32Array(new Uint16Array(b)) : new Float32Array(b));
              // f32 angles (pos * base^(-2i/D)) and sin/cos: a few ulps of the angle; f16 caches: one ulp of rounding.
              expectClose(new Float32Array(out.Q), ref.q, 2e-5, `${what} Q`);
              expectClose(read(out.Kcache), ref.kCache, f16 ? 1e-3 : 2e-5, `${what} K`);
              expectClose(read(out.Vcache), ref.vCache, f16 ? 1e-3 : 1e-7, `${what} V`);
            }
  });

  it('rope_kv q8_0 / q4_0 caches: written rows quantized as ggml does (ggml\'s scale, values within a step of rope), other rows untouched', async () => {
    for (const kvType of ['q8_0', 'q4_0'] as const)
    for (const p of wgPoints(g, ropeKv))
      for (const mode of ['adjacent', 'neox'] as const)
        for (const geo of [
          { tokens: 3, heads: 4, kvHeads: 2, D: 64, pos0: 7, kvStride: 16, fused: true },
          { tokens: 2, heads: 2, kvHeads: 2, D: 96, pos0: 14, kvStride: 16, fused: false }, // 3 blocks: a padding scale half
          { tokens: 1, heads: 8, kvHeads: 2, D: 128, pos0: 0, kvStride: 8, fused: true },
        ])
          for (const dynamicPos of [false, true]) {
            const { fused, ...dims } = geo;
            const { D, kvHeads, kvStride, tokens } = dims;
            const qDim = dims.heads * D;
            const kvDim = kvHeads * D;
            const row = qDim + 2 * kvDim;
            const s: RopeKvShape = {
              ...dims, base: 10000, mode, dynamicPos, ...(dynamicPos ? { pos0: 0 } : {}),
              qStride: fused ? row : qDim, kStride: fused ? row : kvDim, vStride: fused ? row : kvDim,
              qOffset: 0, kOffset: fused ? qDim : 0, vOffset: fused ? qDim + kvDim : 0,
            };
            const pos = dims.pos0;
            const qkv = randomF32(tokens * row).map((x) => x * 4);
            const qs = fused ? qkv : randomF32(tokens * qDim);
            const ks = fused ? qkv : randomF32(tokens * kvDim);
            const vs = fused ? qkv : randomF32(tokens * kvDim);
            const rows = kvHeads * kvStride;
            const c0 = kvQuantize(kvType, randomF32(rows * D), rows, D).bytes;
            const c1 = kvQuantize(kvType, randomF32(rows * D), rows, D).bytes;
            const inst = ropeKv.instances.find((i) => i.key === kvType)!;
            const out = await runVariant(
              g, ropeKv, inst, p, s,
              { Qsrc: qs, Ksrc: ks, Vsrc: vs, step: Uint32Array.of(pos, 0, 0, 0) },
              { Q: { bytes: 4 * tokens * qDim }, Kcache: { init: new Uint32Array(c0.slice().buffer) }, Vcache: { init: new Uint32Array(c1.slice().buffer) } },
            );
            const ref = ropeKvReference(s, { q: qs, k: ks, v: vs }, { k: new Float64Array(rows * D), v: new Float64Array(rows * D) }, pos);
            const what = `rope_kv/${kvType} WG=${p.WG} ${mode} dynamic=${dynamicPos} ${JSON.stringify(geo)}`;
            expectClose(new Float32Array(out.Q), ref.q, 2e-5, `${what} Q`);
            const written = (r: number) => r % kvStride >= pos && r % kvStride < pos + tokens;
            for (const [name, before, got, want] of [['K', c0, out.Kcache, ref.kCache], ['V', c1, out.Vcache, ref.vCache]] as const) {
              const { bytes, values } = untouchedRowsAndValues(kvType, got, before, rows, D, written, `${what} ${name}`);
              assertWithinQuantStep(kvType, bytes, values, want, rows, D, written, `${what} ${name}`, true);
            }
          }
  });

  it('swiglu (fused gate|up rows and separate buffers), add (incl. > 65535 workgroups)', async () => {
    for (const p of wgPoints(g, swiglu))
      for (const [rows, width] of [[1, 1], [3, 1000], [1, 4099]]) {
        const gu = randomF32(rows * 2 * width).map((v) => v * 8);
        const fused: SwigluShape = { rows, width, gStride: 2 * width, uStride: 2 * width, gOffset: 0, uOffset: width };
        const out = await runVariant(g, swiglu, inst0(swiglu), p, fused, { G: gu, U: gu }, { Y: { bytes: 4 * rows * width } });
        expectClose(new Float32Array(out.Y), swigluReference(fused, gu, gu), 1e-5, `swiglu WG=${p.WG} fused ${rows}x${width}`);
        const gg = randomF32(rows * width).map((v) => v * 8);
        const u = randomF32(rows * width);
        const split: SwigluShape = { rows, width, gStride: width, uStride: width, gOffset: 0, uOffset: 0 };
        const out2 = await runVariant(g, swiglu, inst0(swiglu), p, split, { G: gg, U: u }, { Y: { bytes: 4 * rows * width } });
        expectClose(new Float32Array(out2.Y), swigluReference(split, gg, u), 1e-5, `swiglu WG=${p.WG} split ${rows}x${width}`);
      }
    for (const p of wgPoints(g, add))
      for (const n of [1, 1001]) {
        const x = randomF32(n);
        const y = randomF32(n);
        const out = await runVariant(g, add, inst0(add), p, { n }, { Y: y }, { X: { init: x } });
        expectClose(new Float32Array(out.X), addReference({ n }, x, y), 1e-6, `add WG=${p.WG} n=${n}`);
      }
    // 32 * 65535 + 100 elements at WG 32: a 2-D grid of workgroups.
    const n = 32 * 65535 + 100;
    const x = randomF32(n);
    const y = randomF32(n);
    const out = await runVariant(g, add, inst0(add), { WG: 32 }, { n }, { Y: y }, { X: { init: x } });
    expectClose(new Float32Array(out.X), addReference({ n }, x, y), 1e-6, `add WG=32 n=${n}`);
  });

  it('embed (f32 and f16 tables)', async () => {
    for (const inst of embed.instances.filter((i) => i.key === 'f32' || i.key === 'f16'))
      for (const p of wgPoints(g, embed)) {
        const s = { tokens: 5, dim: 67 };
        const vocab = 50;
        const t32 = randomF32(vocab * s.dim);
        const t16 = inst.key === 'f16' ? toF16(t32) : null;
        const ids = Uint32Array.from({ length: s.tokens }, () => Math.floor(Math.random() * vocab));
        ids[0] = vocab - 1;
        const out = await runVariant(g, embed, inst, p, s, { table: t16 ? t16.bits : t32, ids }, { Y: { bytes: 4 * s.tokens * s.dim } });
        expectClose(new Float32Array(out.Y), embedReference(s, t16 ? t16.values : t32, ids), 1e-7, `embed/${inst.key} WG=${p.WG}`);
      }
  });

  it('embed (q8_0 and q4_0 tables: the ggml-dequantized row)', async () => {
    for (const inst of embed.instances.filter((i) => i.key === 'q8_0' || i.key === 'q4_0')) {
      const type = inst.key === 'q8_0' ? GgmlType.Q8_0 : GgmlType.Q4_0;
      assert.equal(embed.supports({ tokens: 1, dim: 67 }, inst), false);
      for (const p of wgPoints(g, embed)) {
        const s = { tokens: 5, dim: 96 };
        const vocab = 50;
        const q = quantize(type, randomF32(vocab * s.dim));
        const values = dequantize(type, q, vocab * s.dim);
        const ids = Uint32Array.from({ length: s.tokens }, () => Math.floor(Math.random() * vocab));
        ids[0] = vocab - 1;
        const table = gpuWeights(inst.key as QuantType, q);
        const out = await runVariant(g, embed, inst, p, s, { table, ids }, { Y: { bytes: 4 * s.tokens * s.dim } });
        expectClose(new Float32Array(out.Y), embedReference(s, values, ids), 1e-7, `embed/${inst.key} WG=${p.WG}`);
      }
    }
  });

  it('embed (q4_k and q6_k tables: the ggml-dequantized row; dim % 256)', async () => {
    for (const inst of embed.instances.filter((i) => i.key === 'q4_k' || i.key === 'q6_k')) {
      const type = inst.key === 'q4_k' ? GgmlType.Q4_K : GgmlType.Q6_K;
      assert.equal(embed.supports({ tokens: 1, dim: 96 }, inst), false);
      assert.equal(embed.supports({ tokens: 1, dim: 512 }, inst), true);
      assert.throws(() => embed.plan({ tokens: 1, dim: 288 }, embed.defaults, inst), /multiple of 256/);
      for (const p of wgPoints(g, embed)) {
        for (const s of [{ tokens: 5, dim: 256 }, { tokens: 3, dim: 768 }]) {
          const vocab = 37;
          const q = quantize(type, randomF32(vocab * s.dim));
          const values = dequantize(type, q, vocab * s.dim);
          const ids = Uint32Array.from({ length: s.tokens }, () => Math.floor(Math.random() * vocab));
          ids[0] = vocab - 1;
          const table = gpuWeights(inst.key as QuantType, q);
          const out = await runVariant(g, embed, inst, p, s, { table, ids }, { Y: { bytes: 4 * s.tokens * s.dim } });
          expectClose(new Float32Array(out.Y), embedReference(s, values, ids), 1e-6, `embed/${inst.key} WG=${p.WG} dim=${s.dim}`);
        }
      }
    }
  });

  it('argmax (ties -> smallest index, NaN ignored), with a reduce dispatch (MERGE 0) and without (MERGE 1)', async () => {
    for (const p of wgPoints(g, argmax).flatMap((w): Params[] => [{ ...w, MERGE: 0 }, { ...w, MERGE: 1 }])) {
      const cases: Float32Array[] = [Float32Array.of(0.5), randomF32(1000), randomF32(20000)];
      const ties = randomF32(3000);
      ties[2500] = 5;
      ties[1700] = 5;
      ties[2999] = 5;
      cases.push(ties);
      const nan = randomF32(777);
      nan[3] = NaN;
      nan[500] = 3;
      cases.push(nan);
      cases.push(new Float32Array(300).fill(-Infinity));
      for (const x of cases) {
        const s = { n: x.length };
        const out = await runVariant(g, argmax, inst0(argmax), p, s, { X: x }, { out: { bytes: 4 } });
        assert.equal(new Uint32Array(out.out)[0], argmaxReference(s, x), `argmax WG=${p.WG} MERGE=${p.MERGE} n=${s.n}`);
      }
    }
  });
});
