/**
 * attention.coopmat vs the float64 reference (tuner/reference/attention.ts), fresh random inputs each run:
 * D 64/72/80/96/128/256, GQA r 1/2/4/8 (packed and not), causal from 0 and at depth (queryPos0 > 0),
 * rows past kvLength, non-causal, ragged queries and kvLength, explicit parameter points covering every
 * code path (RS/CS splits, CS == 1 subgroup syncs, several softmax rows per thread, Q in registers or
 * shared memory, paddings) plus random points of the pruned space. K/V rows between kvLength and
 * kvStride hold NaN and O is poisoned with NaN, so a read past kvLength or an unwritten output shows.
 * Tolerance: relative L2 2e-3, the tuner's f16 gate (tuner/validate.ts); Q and P are rounded to f16 for
 * the coopmat products, ~3e-4 expected.
 *
 * At pp512 @ depth 4096 (D 64 and 128, 32/8 heads) every sampled variant is compared with attention.tile
 * on the same inputs and its median time is printed (t.diagnostic), with attention.tile's for scale.
 *
 * Two suites:
 * - the real kernel on a device with coopmat (f16 16x16x16 -> f32); skipped with a message otherwise;
 * - the same template rendered with COOPMAT_EMU (every coopmat load/store/multiply replaced by plain GLSL
 *   over the device's subgroup size), on any Vulkan device, lavapipe included: it checks the algorithm
 *   around the coopmat operations (indexing, masking, online softmax, GQA mapping, synchronisation).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { findCompiler, missingExtensions } from '../generator/compile';
import { familiesForOp } from '../generator/families';
import { ATTENTION_COOPMAT_MIN_QUERIES, attentionCoopmat, coopmatAttentionDims } from '../generator/families/attention_coopmat';
import { attentionTile } from '../generator/families/attention_tile';
import { type AttentionShape, isKvQuantType } from '../generator/ops';
import { enumerateVariants, instanceUnsupported } from '../generator/prune';
import type { DeviceLimits, KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { DEFAULT_ROUTES } from '../tuner/default-pack';
import { timeVariant } from '../tuner/timing';
import { attentionWorkload } from '../tuner/workloads';
import { attentionReference } from '../tuner/reference/attention';
import { f16BitsToF32, f32ToF16Bits } from '../tuner/reference/f16';
import { kvQuantize } from '../tuner/reference/kv-cache';
import { type Gpu, closeGpu, fmtParams, openGpu, randomF32, runVariant, samplePoints, spirvOf } from './support/kernel-harness';

const F = attentionCoopmat;
const TOL = 2e-3;

type ShapeSpec = Omit<AttentionShape, 'scale' | 'kvStride'>;
const sh = (D: number, heads: number, kvHeads: number, queries: number, kvLength: number, causal: boolean, queryPos0?: number): ShapeSpec => ({
  D,
  heads,
  kvHeads,
  queries,
  kvLength,
  causal,
  queryPos0: queryPos0 ?? (causal ? kvLength - queries : 0),
});

/** Shapes: every one is run at every accepted explicit point and a few random ones. */
const SHAPES: Array<{ name: string; s: ShapeSpec }> = [
  { name: 'D64 r4 prefill@300 ragged', s: sh(64, 32, 8, 37, 337, true) },
  { name: 'D128 r1 prefill from 0', s: sh(128, 8, 8, 64, 64, true) },
  { name: 'D72 r1 non-causal ragged', s: sh(72, 4, 4, 50, 77, false) },
  { name: 'D256 r8 prefill@130', s: sh(256, 16, 2, 20, 150, true) },
  { name: 'D64 r8 prefill@233', s: sh(64, 8, 1, 100, 333, true) },
  { name: 'D96 r2 rows past kvLength', s: sh(96, 4, 2, 24, 40, true, 30) },
  { name: 'D80 r2 16 queries from 0', s: sh(80, 2, 1, 16, 16, true) },
  { name: 'D128 r4 non-causal long KV', s: sh(128, 4, 1, 130, 700, false) },
];

/** Explicit points for 32-lane subgroups (NVIDIA); each must be accepted by at least one shape. */
const POINTS_32: Array<Partial<Params>> = [
  { WG: 128, BR: 64, BC: 64, RS: 4, CS: 1, PAD: 8, Q_REG: 0, GQA_PACK: 0 },
  { WG: 128, BR: 32, BC: 64, RS: 2, CS: 2, PAD: 0, Q_REG: 1, GQA_PACK: 1 },
  { WG: 256, BR: 64, BC: 32, RS: 4, CS: 2, PAD: 16, Q_REG: 1, GQA_PACK: 1 },
  { WG: 64, BR: 16, BC: 32, RS: 1, CS: 2, PAD: 8, Q_REG: 0, GQA_PACK: 1 },
  { WG: 32, BR: 16, BC: 16, RS: 1, CS: 1, PAD: 8, Q_REG: 1, GQA_PACK: 0 },
  { WG: 128, BR: 128, BC: 64, RS: 4, CS: 1, PAD: 8, Q_REG: 1, GQA_PACK: 1 },
  { WG: 64, BR: 128, BC: 16, RS: 2, CS: 1, PAD: 8, Q_REG: 0, GQA_PACK: 1 }, // 2 softmax rows per thread
  { WG: 128, BR: 16, BC: 128, RS: 1, CS: 4, PAD: 8, Q_REG: 1, GQA_PACK: 1 }, // 8 softmax threads per row
];

/** Explicit points for the emulation on 8-lane subgroups (lavapipe): WG = RS*CS*8. */
const POINTS_8: Array<Partial<Params>> = [
  { WG: 32, BR: 32, BC: 32, RS: 2, CS: 2, PAD: 8, Q_REG: 1, GQA_PACK: 1 },
  { WG: 32, BR: 64, BC: 32, RS: 4, CS: 1, PAD: 0, Q_REG: 1, GQA_PACK: 0 }, // CS == 1, 2 rows per thread
  { WG: 32, BR: 16, BC: 64, RS: 1, CS: 4, PAD: 0, Q_REG: 1, GQA_PACK: 1 },
  { WG: 16, BR: 32, BC: 32, RS: 1, CS: 2, PAD: 0, Q_REG: 0, GQA_PACK: 1 }, // 2 row blocks, split columns
  { WG: 32, BR: 64, BC: 32, RS: 2, CS: 2, PAD: 0, Q_REG: 1, GQA_PACK: 0 }, // 2 row blocks per subgroup
  { WG: 8, BR: 16, BC: 16, RS: 1, CS: 1, PAD: 8, Q_REG: 1, GQA_PACK: 1 }, // one subgroup (fits D=256 here)
  { WG: 16, BR: 32, BC: 16, RS: 2, CS: 1, PAD: 16, Q_REG: 1, GQA_PACK: 0 },
];

const pinD = (p: Partial<Params>, D: number): Params => ({ ...F.defaults, ...p, D }) as Params;

/** Run one variant on one shape with fresh inputs; the relative L2 error vs float64. */
async function relError(gpu: Gpu, family: KernelFamily<AttentionShape>, inst: TemplateInstance, params: Params, spec: ShapeSpec): Promise<number> {
  const shape: AttentionShape = { ...spec, kvStride: spec.kvLength + 3, scale: 1 / Math.sqrt(spec.D) };
  const { D, heads, kvHeads, queries, kvLength, kvStride } = shape;
  const qN = queries * heads * D;
  const kvN = kvHeads * kvStride * D;
  const q = randomF32(qN);
  const k16 = new Uint16Array(kvN);
  const v16 = new Uint16Array(kvN);
  const kRef = new Float64Array(kvN);
  const vRef = new Float64Array(kvN);
  for (let i = 0; i < kvN; i++) {
    const past = Math.floor(i / D) % kvStride >= kvLength;
    k16[i] = past ? 0x7e00 : f32ToF16Bits(Math.random() * 2 - 1);
    v16[i] = past ? 0x7e00 : f32ToF16Bits(Math.random() * 2 - 1);
    kRef[i] = f16BitsToF32(k16[i]);
    vRef[i] = f16BitsToF32(v16[i]);
  }
  let K: Uint16Array | Uint32Array = k16;
  let V: Uint16Array | Uint32Array = v16;
  const kvType = String(inst.defines.KV_TYPE);
  if (isKvQuantType(kvType)) {
    // the q8_0 / q4_0 cache layout of the same values (rows past kvLength get NaN scales); the reference sees the dequantized values
    const valid = (r: number) => r % kvStride < kvLength;
    const kq = kvQuantize(kvType, kRef.map((x) => (Number.isNaN(x) ? 0 : x)), kvHeads * kvStride, D, valid);
    const vq = kvQuantize(kvType, vRef.map((x) => (Number.isNaN(x) ? 0 : x)), kvHeads * kvStride, D, valid);
    kRef.set(kq.values);
    vRef.set(vq.values);
    K = new Uint32Array(kq.bytes.buffer);
    V = new Uint32Array(vq.bytes.buffer);
  }
  const ref = attentionReference(shape, q, kRef, vRef);
  const out = await runVariant(gpu, family, inst, params, shape, { Q: q, K, V, scratch: new Float32Array(4) }, { O: { bytes: qN * 4 } });
  const o = new Float32Array(out.O);
  let num = 0;
  let den = 0;
  let nan = -1;
  for (let i = 0; i < qN; i++) {
    if (Number.isNaN(o[i]) && nan < 0) nan = i;
    const e = o[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
  }
  assert.ok(nan < 0, `NaN in output at ${nan} (query ${Math.floor(nan / (heads * D))}, head ${Math.floor(nan / D) % heads}, d ${nan % D})`);
  return Math.sqrt(num / den);
}

/** Explicit points accepted for a shape, then `random` random points of the D-pinned pruned space. */
function pointsFor(explicit: Array<Partial<Params>>, D: number, accept: (p: Params) => boolean, space: Params[], random: number): Params[] {
  const pts = [pinD({}, D), ...explicit.map((p) => pinD(p, D))].filter(accept);
  const pool = space.filter((p) => accept(p) && !pts.some((x) => fmtParams(x) === fmtParams(p)));
  return [...pts, ...samplePoints(pool, random)];
}

const { gpu, why } = openGpu();
after(() => closeGpu());

/** The D-pinned parameter space of the family for these limits. */
function pinnedSpace(limits: DeviceLimits, inst: TemplateInstance, D: number): Params[] {
  const pinned: KernelFamily<AttentionShape> = { ...F, params: F.params.map((s) => (s.name === 'D' ? { ...s, values: [D] } : s)) };
  return enumerateVariants(pinned, inst, limits).kept;
}

describe('attention.coopmat vs float64 reference (coopmat device)', { skip: gpu ? false : why }, () => {
  const inst = F.instances[0];
  for (const { name, s } of SHAPES) {
    it(`${name}: D=${s.D} heads=${s.heads}/${s.kvHeads} q=${s.queries} kv=${s.kvLength} ${s.causal ? `causal@${s.queryPos0}` : 'full'}`, async (t) => {
      const g = gpu!;
      const compiler = await findCompiler();
      const missing = missingExtensions(compiler, inst.requiresCompilerExtensions);
      const unsupported = instanceUnsupported(inst, g.limits);
      if (missing.length || unsupported) return t.skip(missing.length ? `compiler lacks ${missing.join(', ')}` : `${unsupported} (attention.coopmat needs cooperative matrices)`);
      const accept = (p: Params) => F.reject(p, inst, g.limits) === null;
      const pts = pointsFor(POINTS_32, s.D, accept, pinnedSpace(g.limits, inst, s.D), 3);
      if (pts.length === 0) return t.skip(`no attention.coopmat variant fits this device for D=${s.D}`);
      for (const p of pts) {
        const rel = await relError(g, F, inst, p, s);
        t.diagnostic(`${fmtParams(p)}: rel ${rel.toExponential(2)}`);
        assert.ok(rel < TOL, `${fmtParams(p)}: rel error ${rel.toExponential(3)} >= ${TOL}`);
      }
    });
  }
  // Prefill at depth (pp512 @ d4096 of Llama-3.2-1B / 3.1-8B head layouts): no CPU reference at this size,
  // so every coopmat variant is checked against attention.tile (f32 tiles) on the same inputs; the medians
  // are printed as diagnostics (the speed itself is not asserted).
  for (const D of [64, 128]) {
    it(`pp512 @ depth 4096, D=${D}, 32/8 heads: agrees with attention.tile; timings (diagnostic)`, async (t) => {
      const g = gpu!;
      const compiler = await findCompiler();
      if (missingExtensions(compiler, inst.requiresCompilerExtensions).length || instanceUnsupported(inst, g.limits)) return t.skip('needs coopmat');
      const shape: AttentionShape = { D, heads: 32, kvHeads: 8, queries: 512, kvLength: 4608, kvStride: 4608, queryPos0: 4096, causal: true, scale: 1 / Math.sqrt(D) };
      const tileInst = attentionTile.instances.find((i) => i.key === 'f16')!;
      const qN = shape.queries * shape.heads * D;
      const kvN = shape.kvHeads * shape.kvStride * D;
      const kv = () => Uint16Array.from({ length: kvN }, () => f32ToF16Bits(Math.random() * 2 - 1));
      const inputs = { Q: randomF32(qN), K: kv(), V: kv(), scratch: new Float32Array(4) };
      const flops = attentionWorkload('f16', shape).flops;
      const run = async (fam: KernelFamily<AttentionShape>, ti: TemplateInstance, p: Params) => {
        const out = new Float32Array((await runVariant(g, fam, ti, p, shape, inputs, { O: { bytes: qN * 4 } })).O);
        const { ctx } = g;
        const bufs = Object.fromEntries(Object.entries({ ...inputs, O: new Float32Array(qN) }).map(([k, v]) => {
          const b = ctx.createBuffer(Math.max(16, v.byteLength));
          ctx.upload(b, v);
          return [k, b];
        }));
        try {
          const variant = { family: fam, instance: ti, params: p, spirv: await spirvOf(fam, ti) };
          const st = timeVariant(ctx, g.pipelines, variant, shape, [bufs], { maxTimeMs: 1000 });
          return { out, us: st.medianNs / 1e3 };
        } finally {
          for (const b of Object.values(bufs)) b.destroy();
        }
      };
      const ref = await run(attentionTile, tileInst, { ...attentionTile.defaults, D });
      t.diagnostic(`attention.tile defaults: ${ref.us.toFixed(1)} us, ${(flops / ref.us / 1e6).toFixed(1)} TFLOP/s`);
      const accept = (p: Params) => F.reject(p, inst, g.limits) === null;
      for (const p of pointsFor(POINTS_32, D, accept, pinnedSpace(g.limits, inst, D), 4)) {
        const r = await run(F, inst, p);
        let num = 0;
        let den = 0;
        for (let i = 0; i < qN; i++) {
          num += (r.out[i] - ref.out[i]) ** 2;
          den += ref.out[i] ** 2;
        }
        const rel = Math.sqrt(num / den);
        t.diagnostic(`${fmtParams(p)}: ${r.us.toFixed(1)} us, ${(flops / r.us / 1e6).toFixed(1)} TFLOP/s, rel vs tile ${rel.toExponential(2)}`);
        assert.ok(rel < TOL, `${fmtParams(p)}: rel error vs attention.tile ${rel.toExponential(3)} >= ${TOL}`);
      }
    });
  }
  it('every explicit 32-lane point is exercised by some shape', (t) => {
    if (gpu!.limits.subgroupSize !== 32 || !gpu!.limits.coopmat) return t.skip('needs a coopmat device with 32-lane subgroups');
    for (const p of POINTS_32) {
      assert.ok(SHAPES.some(({ s }) => F.reject(pinD(p, s.D), inst, gpu!.limits) === null), fmtParams(p as Params));
    }
  });
});

describe('attention.coopmat algorithm with emulated coopmat ops (any device)', { skip: gpu ? false : why }, () => {
  const g = gpu!;
  const sgSize = g?.limits.subgroupSize ?? 8;
  const inst: TemplateInstance = { key: `f16-emu${sgSize}`, defines: { KV_TYPE: 'f16', COOPMAT_EMU: true, EMU_SG: sgSize } };
  const emuLimits = (): DeviceLimits => ({
    ...g.limits,
    coopmat: true,
    shaderFloat16: true,
    maxSharedMemoryBytes: 1 << 20,
    coopmatShapes: [{ M: 16, N: 16, K: 16, aType: 'f16', bType: 'f16', cType: 'f32', resultType: 'f32', scope: 'subgroup' }],
  });
  // the family's rules except registers (the emulation keeps fragments in plain arrays) and shared
  // memory, which also holds the emulation's two f32 scratch blocks per subgroup
  const accept = (p: Params) => {
    const why = F.reject(p, inst, emuLimits());
    const shm = F.sharedMemoryBytes(p, inst) + 2 * 4 * 256 * p.RS * p.CS;
    return (why === null || why.startsWith('too many registers')) && shm <= g.limits.maxSharedMemoryBytes && p.WG <= g.limits.maxWorkgroupInvocations;
  };
  // llvmpipe ends every loop of an invocation once it has taken 65535 back-edges in all (its infinite-loop
  // guard): keep the emulation's rolled loops (64 per emulated product, the softmax and load loops) under it
  const backEdges = (p: Params, s: ShapeSpec) => {
    const d = coopmatAttentionDims(p);
    const tiles = Math.ceil((s.causal ? Math.min(s.kvLength, s.queryPos0 + s.queries) : s.kvLength) / p.BC);
    const products = d.SRB * (d.DT * d.SCB + (p.BC / 16) * d.ODB);
    return tiles * (products * (2 * 256) / sgSize + 2 * d.RPT * (p.BC / d.TPR) + Math.ceil((2 * p.BC * d.DP) / 8 / p.WG) + 64);
  };
  const explicit = sgSize === 8 ? POINTS_8 : sgSize === 32 ? POINTS_32 : [];
  it('every explicit point runs on some shape', (t) => {
    if (sgSize !== 8) return t.skip('explicit emulation points are for 8-lane subgroups');
    for (const p of explicit) assert.ok(SHAPES.some(({ s }) => accept(pinD(p, s.D)) && backEdges(pinD(p, s.D), s) < 50000), fmtParams(p as Params));
  });
  for (const { name, s } of SHAPES) {
    it(`${name}: D=${s.D} heads=${s.heads}/${s.kvHeads} q=${s.queries} kv=${s.kvLength} ${s.causal ? `causal@${s.queryPos0}` : 'full'}`, async (t) => {
      if (!g.limits.shaderFloat16) return t.skip('device lacks shaderFloat16');
      // the space with D pinned and workgroups down to one subgroup (the emulation test's own widening)
      const widen = (x: (typeof F.params)[number]) => (x.name === 'D' ? { ...x, values: [s.D] } : x.name === 'WG' ? { ...x, values: [8, 16, ...x.values] } : x);
      const full: KernelFamily<AttentionShape> = { ...F, params: F.params.map(widen), reject: () => null };
      const space = enumerateVariants(full, inst, emuLimits()).kept.filter((p) => p.WG === p.RS * p.CS * sgSize);
      const pts = pointsFor(explicit, s.D, (p) => accept(p) && backEdges(p, s) < 50000, space, 1);
      if (pts.length === 0) return t.skip(`no emulated variant fits this device for D=${s.D}`);
      for (const p of pts) {
        const rel = await relError(g, F, inst, p, s);
        t.diagnostic(`${fmtParams(p)}: rel ${rel.toExponential(2)}`);
        assert.ok(rel < TOL, `${fmtParams(p)}: rel error ${rel.toExponential(3)} >= ${TOL}`);
      }
    });
  }
  // q8_0 / q4_0 K/V: the same algorithm with the cache dequantized into the K/V tiles; the first accepted point per shape
  for (const kv of ['q8_0', 'q4_0'] as const) {
    const qi: TemplateInstance = { ...inst, key: `${kv}-emu${sgSize}`, defines: { ...inst.defines, KV_TYPE: kv } };
    for (const { name, s } of SHAPES.filter(({ s }) => s.D % 32 === 0)) {
      it(`${kv} K/V, ${name}: D=${s.D} heads=${s.heads}/${s.kvHeads} q=${s.queries} kv=${s.kvLength}`, async (t) => {
        if (!g.limits.shaderFloat16) return t.skip('device lacks shaderFloat16');
        const p = explicit.map((x) => pinD(x, s.D)).find((x) => accept(x) && backEdges(x, s) < 50000);
        if (!p) return t.skip(`no explicit emulated point fits this device for D=${s.D}`);
        const rel = await relError(g, F, qi, p, s);
        t.diagnostic(`${fmtParams(p)}: rel ${rel.toExponential(2)}`);
        assert.ok(rel < TOL, `${fmtParams(p)}: rel error ${rel.toExponential(3)} >= ${TOL}`);
      });
    }
  }
});

describe('attention.coopmat schema', () => {
  it('supports() only prefill shapes; plan() is exact for any query count', () => {
    const s: AttentionShape = { D: 64, heads: 32, kvHeads: 8, queries: 512, kvLength: 4608, kvStride: 4608, queryPos0: 4096, causal: true, scale: 0.125 };
    assert.equal(F.supports(s, F.instances[0]), true);
    assert.equal(F.supports({ ...s, queries: ATTENTION_COOPMAT_MIN_QUERIES - 1 }, F.instances[0]), false);
    const plan = F.plan(s, F.defaults, F.instances[0]);
    assert.equal(plan.scratchBytes, 0);
    assert.equal(plan.steps.length, 1);
    assert.deepEqual(plan.steps[0].groups, [(4 * 512) / 64, 8, 1]);
    assert.equal(plan.steps[0].specOverrides?.D, 64);
    assert.equal(plan.steps[0].push.length, F.pushConstantBytes);
    assert.deepEqual(F.plan({ ...s, queries: 3 }, { ...F.defaults, GQA_PACK: 0 }, F.instances[0]).steps[0].groups, [1, 32, 1]);
    assert.throws(() => F.plan({ ...s, D: 12 }, F.defaults, F.instances[0]));
  });
  it('tuned for prefill: in the attention registry, never a built-in default route', () => {
    assert.ok(familiesForOp('attention').includes(F));
    const routed = DEFAULT_ROUTES.attention.routes.map(([id]) => id);
    assert.ok(!routed.includes(F.id), routed.join(','));
  });
});
