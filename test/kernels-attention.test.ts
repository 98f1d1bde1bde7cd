/**
 * attention.vec and attention.tile vs the float64 reference (tuner/reference/attention.ts) on the first
 * Vulkan device: both K/V instances, D 16/64/128, GQA r 1 and 4, ragged kvLength, causal prefill at depth,
 * non-causal, and non-default parameter points. O (and scratch) are poisoned with NaN before each run;
 * K/V rows between kvLength and kvStride hold NaN so any read past kvLength shows. Skips (with a message)
 * when the Vulkan addon or a device is missing.
 */
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Context, GpuBuffer, VulkanBackend } from '../native/vulkan/api';
import { attentionTile } from '../generator/families/attention_tile';
import { attentionVec, kvTypeShapeError } from '../generator/families/attention_vec';
import { type LaunchableVariant, PipelineCache, recordVariant } from '../generator/launch';
import { type AttentionShape, type KvQuantType, type KvType, isKvQuantType, kvCacheBytes } from '../generator/ops';
import { spirvOf } from './support/kernel-harness';
import type { KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { attentionReference } from '../tuner/reference/attention';
import { kvQuantize } from '../tuner/reference/kv-cache';

function loadVulkan(): { vk: VulkanBackend | null; why: string } {
  try {
    const mod = require(path.join(__dirname, '../native/vulkan'));
    const vk: VulkanBackend | undefined = mod.vulkan ?? mod.default ?? mod;
    if (!vk || typeof vk.listDevices !== 'function') return { vk: null, why: 'native/vulkan exports no backend' };
    if (vk.listDevices().length === 0) return { vk: null, why: 'no Vulkan device' };
    return { vk, why: '' };
  } catch (e) {
    return { vk: null, why: `Vulkan addon not available (${(e as Error).message.split('\n')[0]})` };
  }
}

// ---- f16 helpers (round to nearest even) ----
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
function f32ToF16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    man |= 0x800000;
    const shift = 14 - e;
    let h = man >>> shift;
    const rem = man & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

interface Case {
  family: KernelFamily<AttentionShape>;
  params?: Partial<Params>;
  /**
   * Decode replay (AttentionShape.dynamicPos): record for a KV length of this window end, and pass the
   * real position (shape.queryPos0) in the step buffer.
   */
  dynamicWindow?: number;
  shape: Omit<AttentionShape, 'scale' | 'kvStride'> & { kvStride?: number };
}

const sh = (D: number, heads: number, kvHeads: number, queries: number, kvLength: number, causal: boolean, queryPos0?: number) => ({
  D,
  heads,
  kvHeads,
  queries,
  kvLength,
  causal,
  queryPos0: queryPos0 ?? (causal ? kvLength - queries : 0),
});

const vecCases: Case[] = [
  { family: attentionVec, shape: sh(64, 4, 4, 1, 1, true) },
  { family: attentionVec, shape: sh(128, 8, 2, 3, 300, true) }, // r=4, 2 splits + reduce
  { family: attentionVec, shape: sh(16, 4, 1, 1, 37, false) },
  { family: attentionVec, shape: sh(64, 8, 2, 3, 37, false) },
  { family: attentionVec, params: { WG: 32, TPR: 4, ROWS: 1, KV_CHUNK: 16, GQA_PACK: 0, SG_REDUCE: 1 }, shape: sh(16, 4, 1, 3, 300, true) },
  { family: attentionVec, params: { WG: 128, TPR: 2, ROWS: 2, KV_CHUNK: 128, SG_REDUCE: 1 }, shape: sh(64, 8, 2, 1, 300, true) },
  { family: attentionVec, params: { WG: 64, TPR: 16, ROWS: 2, KV_CHUNK: 128 }, shape: sh(128, 4, 4, 3, 300, false) },
  { family: attentionVec, params: { KV_CHUNK: 16 }, shape: sh(64, 4, 1, 3, 37, true, 36) }, // rows 1, 2 at positions >= kvLength
  // KVU > 1: several KV rows per group per iteration, the last iteration partly past the split / causal limit
  { family: attentionVec, params: { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 128, KVU: 4, SG_REDUCE: 0 }, shape: sh(128, 8, 2, 3, 300, true) },
  { family: attentionVec, params: { WG: 32, TPR: 4, ROWS: 2, KV_CHUNK: 64, KVU: 2, SG_REDUCE: 1, GQA_PACK: 0 }, shape: sh(64, 4, 1, 2, 37, true) },
  { family: attentionVec, params: { KV_CHUNK: 64, KVU: 4, SG_REDUCE: 1 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 300, true), kvStride: 520 } },
  // dynamic positions: planned for 512 (8 splits of 64), real length 300 / 1 / 64 -> empty splits
  { family: attentionVec, params: { KV_CHUNK: 64 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 300, true), kvStride: 520 } },
  { family: attentionVec, params: { KV_CHUNK: 64 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 1, true), kvStride: 520 } },
  { family: attentionVec, dynamicWindow: 256, shape: { ...sh(128, 4, 4, 2, 64, true), kvStride: 256 } },
  // MERGE 1: the last split of each tile merges (no reduce dispatch); recorded twice, so the counters must be
  // back at zero for the second call; rows past the group (ROWS 4 > 1 row), empty dynamic splits, GQA packing
  { family: attentionVec, params: { KV_CHUNK: 32, MERGE: 1 }, shape: sh(128, 8, 2, 3, 300, true) },
  { family: attentionVec, params: { WG: 32, TPR: 4, ROWS: 4, KV_CHUNK: 16, GQA_PACK: 0, SG_REDUCE: 1, MERGE: 1 }, shape: sh(16, 4, 1, 1, 300, true) },
  { family: attentionVec, params: { KV_CHUNK: 64, KVU: 2, MERGE: 1 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 300, true), kvStride: 520 } },
  { family: attentionVec, params: { KV_CHUNK: 64, MERGE: 1 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 1, true), kvStride: 520 } },
  { family: attentionVec, params: { WG: 64, TPR: 2, ROWS: 2, KV_CHUNK: 32, MERGE: 1 }, shape: sh(64, 8, 2, 8, 300, false) },
  // PREFETCH 1: the next iteration's K/V loaded ahead; one iteration only, several with the last one partial, KVU 2,
  // dynamic positions with empty splits, MERGE 1
  { family: attentionVec, params: { KV_CHUNK: 16, PREFETCH: 1 }, shape: sh(64, 4, 1, 3, 37, true, 36) },
  { family: attentionVec, params: { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 128, KVU: 2, PREFETCH: 1 }, shape: sh(128, 8, 2, 3, 300, true) },
  { family: attentionVec, params: { WG: 32, TPR: 4, ROWS: 2, KV_CHUNK: 256, SG_REDUCE: 1, GQA_PACK: 0, PREFETCH: 1 }, shape: sh(64, 4, 1, 1, 300, true) },
  { family: attentionVec, params: { KV_CHUNK: 64, KVU: 2, MERGE: 1, PREFETCH: 1 }, dynamicWindow: 512, shape: { ...sh(64, 8, 2, 1, 300, true), kvStride: 520 } },
  // the issue's other head dims: 80 and 96 (D/4 not a multiple of TPR: partial vec4 sets), 256
  { family: attentionVec, params: { KV_CHUNK: 64 }, shape: sh(80, 8, 2, 2, 150, true) },
  { family: attentionVec, params: { TPR: 16, KV_CHUNK: 128, MERGE: 1 }, shape: sh(96, 4, 1, 1, 300, true) },
  { family: attentionVec, params: { WG: 64, TPR: 16, ROWS: 2, KV_CHUNK: 64 }, shape: sh(256, 4, 2, 1, 100, true) },
];
const tileCases: Case[] = [
  { family: attentionTile, shape: sh(16, 4, 4, 1, 1, true) },
  { family: attentionTile, shape: sh(64, 8, 2, 70, 300, true) }, // prefill at depth, r=4
  { family: attentionTile, shape: sh(128, 2, 2, 37, 37, true) }, // prefill from 0
  { family: attentionTile, shape: sh(64, 4, 1, 5, 37, false) },
  { family: attentionTile, params: { WG: 64, BR: 32, BC: 8, RPT: 4, PAD: 0, SG_REDUCE: 1, GQA_PACK: 0 }, shape: sh(64, 8, 2, 70, 300, true) },
  { family: attentionTile, params: { WG: 32, BR: 8, BC: 32, RPT: 1, PAD: 4, SG_REDUCE: 0 }, shape: sh(16, 8, 2, 3, 37, true) },
  { family: attentionTile, params: { WG: 128, BR: 16, BC: 16, RPT: 2, PAD: 1, SG_REDUCE: 0 }, shape: sh(128, 4, 1, 33, 70, true, 10) },
  { family: attentionTile, shape: sh(64, 4, 1, 8, 37, true, 33) }, // rows 4..7 at positions >= kvLength
  { family: attentionTile, shape: sh(80, 4, 2, 20, 60, true) },
  { family: attentionTile, params: { WG: 32, BR: 8, BC: 8, RPT: 1 }, shape: sh(96, 4, 1, 12, 40, true) },
  { family: attentionTile, params: { WG: 32, BR: 8, BC: 8, RPT: 2, PAD: 0 }, shape: sh(256, 2, 1, 10, 30, true) },
];

const { vk, why } = loadVulkan();

describe('attention kernels vs float64 reference', { skip: vk ? false : why }, () => {
  let ctx: Context;
  let cache: PipelineCache;
  const spirv = new Map<string, Uint8Array>();
  let seed = 0x9e3779b9;
  const rand = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    seed ^= seed >>> 12;
    return ((seed >>> 0) / 4294967296) * 2 - 1;
  };

  before(async () => {
    for (const fam of [attentionVec, attentionTile]) {
      for (const inst of fam.instances) spirv.set(`${fam.id}/${inst.key}`, await spirvOf(fam, inst));
    }
    ctx = vk!.createContext(0);
    cache = new PipelineCache(ctx);
    seed = (Date.now() ^ 0x5bd1e995) >>> 0; // fresh inputs each run
  });
  after(() => {
    cache?.destroy();
    ctx?.destroy();
  });

  const getSpirv = (family: KernelFamily<any>, inst: TemplateInstance): Uint8Array => spirv.get(`${family.id}/${inst.key}`)!;

  function runCase(c: Case, inst: TemplateInstance): number {
    const kvF16 = inst.defines.KV_TYPE === 'f16';
    const kvQuant = isKvQuantType(String(inst.defines.KV_TYPE)) ? (inst.defines.KV_TYPE as KvQuantType) : null;
    const shape: AttentionShape = { ...c.shape, kvStride: c.shape.kvStride ?? c.shape.kvLength + 5, scale: 1 / Math.sqrt(c.shape.D) };
    const recorded: AttentionShape = c.dynamicWindow
      ? { ...shape, kvLength: c.dynamicWindow, queryPos0: c.dynamicWindow - shape.queries, dynamicPos: true }
      : shape;
    const { D, heads, kvHeads, queries, kvLength, kvStride } = shape;
    const params = { ...c.family.defaults, ...c.params } as Params;
    const variant: LaunchableVariant<AttentionShape> = { family: c.family, instance: inst, spirv: getSpirv(c.family, inst), params };

    const qN = queries * heads * D;
    const kvN = kvHeads * kvStride * D;
    const q = new Float32Array(qN).map(() => rand());
    const kRef = new Float64Array(kvN);
    const vRef = new Float64Array(kvN);
    const k32 = new Float32Array(kvN);
    const v32 = new Float32Array(kvN);
    const k16 = new Uint16Array(kvN);
    const v16 = new Uint16Array(kvN);
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < kvStride; j++) {
        for (let d = 0; d < D; d++) {
          const i = (h * kvStride + j) * D + d;
          const pad = j >= kvLength;
          const kx = pad ? NaN : rand();
          const vx = pad ? NaN : rand();
          k16[i] = f32ToF16Bits(kx);
          v16[i] = f32ToF16Bits(vx);
          k32[i] = kx;
          v32[i] = vx;
          kRef[i] = kvF16 ? f16BitsToF32(k16[i]) : k32[i];
          vRef[i] = kvF16 ? f16BitsToF32(v16[i]) : v32[i];
        }
      }
    }
    // q8_0 / q4_0: the cache layout (tuner/reference/kv-cache.ts), never-read rows with NaN scales; the reference
    // sees the dequantized values
    const validRow = (r: number) => r % kvStride < kvLength;
    const kQ8 = kvQuant ? kvQuantize(kvQuant, k32, kvHeads * kvStride, D, validRow) : null;
    const vQ8 = kvQuant ? kvQuantize(kvQuant, v32, kvHeads * kvStride, D, validRow) : null;
    if (kQ8 && vQ8) {
      kRef.set(kQ8.values);
      vRef.set(vQ8.values);
    }
    const ref = attentionReference(shape, q, kRef, vRef);

    const plan = c.family.plan(recorded, params, inst);
    const bufs: GpuBuffer[] = [];
    const mk = (bytes: number) => {
      const b = ctx.createBuffer(Math.max(16, bytes));
      bufs.push(b);
      return b;
    };
    try {
      const Q = mk(qN * 4);
      const kvBytes = kvCacheBytes(inst.defines.KV_TYPE as KvType, kvHeads * kvStride, D);
      const K = mk(kvBytes);
      const V = mk(kvBytes);
      const O = mk(qN * 4);
      const S = mk(plan.scratchBytes);
      const step = mk(16);
      ctx.upload(step, Uint32Array.of(shape.queryPos0, 0, 0, 0));
      const counters = mk(4 * Math.max(4, plan.counterWords ?? 0));
      ctx.upload(counters, new Uint32Array(Math.max(4, plan.counterWords ?? 0)));
      ctx.upload(Q, q);
      ctx.upload(K, kQ8 ? kQ8.bytes : kvF16 ? k16 : k32);
      ctx.upload(V, vQ8 ? vQ8.bytes : kvF16 ? v16 : v32);
      const seq = ctx.createSequence();
      try {
        seq.fill(O, 0x7fc00000);
        seq.fill(S, 0x7fc00000);
        seq.barrier();
        // twice when the plan keeps counters: the second call finds them as the first left them
        for (let call = 0; call < (plan.counterWords ? 2 : 1); call++) recordVariant(seq, cache, variant, recorded, { Q, K, V, O, scratch: S, step, counters }, plan);
        seq.submit();
      } finally {
        seq.destroy();
      }
      const out = new Float32Array(ctx.download(O, 0, qN * 4));
      if (plan.counterWords) {
        const left = new Uint32Array(ctx.download(counters, 0, 4 * plan.counterWords));
        assert.deepEqual([...left], new Array(plan.counterWords).fill(0), 'counters not left at zero');
        assert.equal(plan.steps.length, 1, 'MERGE 1 plans one dispatch');
      }
      let num = 0;
      let den = 0;
      for (let i = 0; i < qN; i++) {
        const e = out[i] - ref[i];
        num += e * e;
        den += ref[i] * ref[i];
      }
      const rel = Math.sqrt(num / den);
      assert.ok(!Number.isNaN(rel), `NaN in output (first NaN at ${out.findIndex((x) => Number.isNaN(x))})`);
      return rel;
    } finally {
      for (const b of bufs) b.destroy();
    }
  }

  for (const c of [...vecCases, ...tileCases]) {
    for (const inst of c.family.instances) {
      const s = c.shape;
      if (kvTypeShapeError(inst, s)) continue; // q8_0 / q4_0 need D % 32 == 0
      const name =
        `${c.family.id}/${inst.key} D=${s.D} heads=${s.heads}/${s.kvHeads} q=${s.queries} kv=${s.kvLength} ` +
        `${s.causal ? `causal@${s.queryPos0 ?? 0}` : 'full'}${c.params ? ' ' + JSON.stringify(c.params) : ''}` +
        `${c.dynamicWindow ? ` dynamic (planned for ${c.dynamicWindow})` : ''}`;
      it(name, () => {
        const tol = inst.defines.KV_TYPE === 'f16' ? 1e-3 : 1e-5;
        for (let rep = 0; rep < 2; rep++) {
          const rel = runCase(c, inst);
          assert.ok(rel < tol, `rel error ${rel.toExponential(3)} >= ${tol}`);
        }
      });
    }
  }
});

describe('attention family schemas', () => {
  const lavapipe = {
    subgroupSize: 8,
    maxSharedMemoryBytes: 32768,
    maxWorkgroupInvocations: 1024,
    maxWorkgroupSizeX: 1024,
    coopmatShapes: [],
    shaderFloat16: true,
    coopmat: false,
    coopmat2: false,
    integerDotProduct: false,
    atomicFloatAdd: false,
    multiprocessorCount: 0,
  };
  for (const fam of [attentionVec, attentionTile] as KernelFamily<AttentionShape>[]) {
    it(`${fam.id}: defaults and test points pass reject() on a lavapipe-like device`, () => {
      for (const inst of fam.instances) {
        assert.equal(fam.reject(fam.defaults, inst, lavapipe), null);
        for (const c of [...vecCases, ...tileCases].filter((x) => x.family === fam && x.params)) {
          const p = { ...fam.defaults, ...c.params, D: Math.max(32, c.shape.D) } as Params;
          assert.equal(fam.reject(p, inst, lavapipe), null, JSON.stringify(c.params));
        }
      }
    });
    it(`${fam.id}: plan() push constants, groups, scratch`, () => {
      const shape: AttentionShape = { D: 64, heads: 8, kvHeads: 2, queries: 1, kvLength: 1000, kvStride: 1024, queryPos0: 999, causal: true, scale: 0.125 };
      const plan = fam.plan(shape, fam.defaults, fam.instances[0]);
      for (const st of plan.steps) {
        assert.equal(st.push.length, fam.pushConstantBytes);
        assert.equal(st.specOverrides?.D, 64);
      }
      if (fam === attentionVec) {
        assert.equal(plan.steps.length, 2);
        assert.deepEqual(plan.steps[0].groups, [1, 2, 4]);
        assert.equal(plan.scratchBytes, 4 * 1 * 8 * 66 * 4);
        assert.equal(plan.counterWords, undefined);
        // MERGE 1: the same grid and scratch, no reduce dispatch, one counter per (x, y) tile
        const merged = fam.plan(shape, { ...fam.defaults, MERGE: 1 }, fam.instances[0]);
        assert.equal(merged.steps.length, 1);
        assert.deepEqual(merged.steps[0].groups, [1, 2, 4]);
        assert.equal(merged.scratchBytes, plan.scratchBytes);
        assert.equal(merged.counterWords, 1 * 2);
        // one split: nothing to merge, no counters
        assert.equal(fam.plan({ ...shape, kvLength: 100, queryPos0: 99 }, { ...fam.defaults, MERGE: 1 }, fam.instances[0]).counterWords, undefined);
      } else {
        assert.equal(plan.scratchBytes, 0);
      }
      assert.throws(() => fam.plan({ ...shape, D: 12 }, fam.defaults, fam.instances[0]));
    });
  }
});
