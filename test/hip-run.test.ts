/**
 * tuner/hip/run.ts without a GPU.
 * - Pure: the plan -> launch mapping (entries, grids, blocks, arguments decoded from the push bytes,
 *   optional bindings, rejected dispatch points), argument binding (scratch, and the zeroed counters of
 *   MERGE 1 plans: a RangeError naming the family and the binding without them), the device space,
 *   rotation-set counts and the timing statistics.
 * - Through the addon on the fake CUDA driver of test/support/fake_cuda.cc (built here with the system
 *   C++ compiler; skipped without one or without build/Release/kpack_hip.node): HipModuleCache,
 *   enqueueHipPlan and timeHipVariant on real addon buffers, events and launches. The fake runs only
 *   the kernels of native/hip/smoke-kernels.hip, so the `add` family's entry is served by its
 *   half_double(x, y, n) (y = 2 x for i < min(n, grid * block): same parameter sizes as add(X, Y, n)),
 *   which makes the binding order, the decoded push field and the grid visible in the output; the zeroed
 *   counters of the tuner's buffer sets and createHipCounters / hipCountersAtZero on real buffers. This
 *   process loads the fake driver (KPACK_HIP_PROVIDERS=cuda, KPACK_CUDA_LIB / KPACK_NVRTC_LIB, set
 *   before the addon's first call).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hipDefaults, hipFamily, hipInstance, hipPrunedSpace } from '../generator/hip/families';
import type { AttentionShape, MatmulShape } from '../generator/ops';
import { type GpuBuffer, type HipContext, type KernelFunction, hip } from '../native/hip';
import { autotuneHip } from '../tuner/hip/autotune';
import { uploadHipSets } from '../tuner/hip/problems';
import { COUNTER_BYTES } from '../generator/schema';
import { matmulWorkload } from '../tuner/workloads';
import {
  type HipLaunchPlan,
  type HipVariantSpec,
  H200_L2_BYTES,
  HipModuleCache,
  MAX_HIP_ROTATION_SETS,
  bindHipPlan,
  createHipCounters,
  enqueueHipPlan,
  hipCountersAtZero,
  hipDeviceSpace,
  hipLaunchPlan,
  hipRotationSets,
  summarizeHipSamples,
  timeHipVariant,
} from '../tuner/hip/run';

const root = path.resolve(__dirname, '..', '..');
const fr = Math.fround;

const spec = (id: string, key: string, over: Record<string, number> = {}): HipVariantSpec => {
  const hf = hipFamily(id);
  return { hf, inst: hipInstance(hf, key), params: { ...hipDefaults(hf), ...over } };
};
const launchOf = (v: HipVariantSpec, shape: unknown, wave = 32): HipLaunchPlan => {
  const lp = hipLaunchPlan(v, shape, wave);
  if ('rejected' in lp) assert.fail(`rejected: ${lp.rejected}`);
  return lp;
};
/** A stand-in GpuBuffer for the pure binding checks. */
const fakeBuffer = (size: number): GpuBuffer => ({ size, destroy() {} });

describe('HIP plan -> launches (pure)', () => {
  it('matmul.vec: entry of the dispatch point, grid of the plan, block WG, bindings then decoded push fields', () => {
    const v = spec('matmul.vec', 'q4_0', { WG: 64, KSPLIT: 8, RPT: 2 });
    const lp = launchOf(v, { M: 67, N: 3, K: 160 } satisfies MatmulShape);
    assert.equal(lp.steps.length, 1);
    const [st] = lp.steps;
    assert.equal(st.entry, 'kpack_matmul_vec_q4_0_NCOLS3_NORM0_GLU0_RESIDUAL0');
    assert.deepEqual(st.point, { NCOLS: 3, NORM: 0, GLU: 0, RESIDUAL: 0 });
    assert.deepEqual(st.grid, [5, 1, 1]); // 16 rows per workgroup: (64 / 8) * 2
    assert.deepEqual(st.block, [64, 1, 1]);
    assert.deepEqual(st.args, [{ binding: 'A' }, { binding: 'B' }, { binding: 'D' }, { binding: 'G', fallback: 'A' }, { u32: 67 }, { u32: 3 }, { u32: 160 }, { f32: 0 }]);
    const norm = launchOf(v, { M: 67, N: 1, K: 160, epilogue: { norm: { eps: 1e-5 } } } satisfies MatmulShape);
    assert.equal(norm.steps[0].entry, 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU0_RESIDUAL0');
    assert.deepEqual(norm.steps[0].args.slice(4), [{ u32: 67 }, { u32: 1 }, { u32: 160 }, { f32: fr(1e-5) }]);
  });

  it('attention.vec split-KV: a main and a reduce step with their entries, grids and scratch', () => {
    const v = spec('attention.vec', 'f16', { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 256, GQA_PACK: 1 });
    const s: AttentionShape = { D: 128, heads: 8, kvHeads: 2, queries: 1, kvLength: 600, kvStride: 605, queryPos0: 599, causal: true, scale: 0.125 };
    const lp = launchOf(v, s);
    assert.deepEqual(
      lp.steps.map((x) => x.entry),
      ['kpack_attention_vec_f16_D128_PASS0_DYNAMIC0', 'kpack_attention_vec_f16_D128_PASS1_DYNAMIC0'],
    );
    assert.deepEqual(lp.steps[0].grid, [1, 2, 3]); // 4 packed heads / ROWS 4, 8 / 4 head groups, 3 splits
    assert.deepEqual(lp.steps[1].grid, [8, 1, 1]);
    assert.equal(lp.plan.scratchBytes, 3 * 8 * 130 * 4);
    const want = [
      { binding: 'Q' }, { binding: 'K' }, { binding: 'V' }, { binding: 'O' }, { binding: 'scratch' }, { binding: 'step', fallback: 'Q' }, { binding: 'counters', fallback: 'Q' },
      { u32: 8 }, { u32: 2 }, { u32: 1 }, { u32: 600 }, { u32: 605 }, { u32: 599 }, { u32: 1 }, { u32: 3 }, { f32: 0.125 },
    ];
    for (const st of lp.steps) assert.deepEqual(st.args, want);
  });

  it('attention.vec MERGE 1: one launch, counters per tile bound on "counters"; without them (or too few) a RangeError naming the family and the binding', () => {
    const v = spec('attention.vec', 'f16', { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 256, GQA_PACK: 1, MERGE: 1 });
    const s: AttentionShape = { D: 128, heads: 8, kvHeads: 2, queries: 1, kvLength: 600, kvStride: 605, queryPos0: 599, causal: true, scale: 0.125 };
    const lp = launchOf(v, s);
    assert.deepEqual(lp.steps.map((x) => x.entry), ['kpack_attention_vec_f16_D128_PASS0_DYNAMIC0'], 'no reduce launch');
    assert.deepEqual(lp.steps[0].grid, [1, 2, 3]);
    assert.equal(lp.plan.counterWords, 2, 'one counter per (x, y) tile');
    assert.equal(lp.plan.scratchBytes, 3 * 8 * 130 * 4);
    const io = { Q: fakeBuffer(4096), K: fakeBuffer(1 << 20), V: fakeBuffer(1 << 20), O: fakeBuffer(4096), scratch: fakeBuffer(lp.plan.scratchBytes) };
    assert.throws(() => bindHipPlan(lp, io), (e: unknown) => e instanceof RangeError && /^attention\.vec: the plan needs 2 zeroed u32 counters on "counters", got no buffer$/.test(e.message));
    assert.throws(() => bindHipPlan(lp, { ...io, counters: fakeBuffer(4) }), (e: unknown) => e instanceof RangeError && /attention\.vec: .*"counters", got 4 bytes/.test(e.message));
    assert.throws(() => bindHipPlan(lp, { ...io, counters: { buffer: fakeBuffer(16), offset: 12 } }), /got 4 bytes/);
    const C = fakeBuffer(COUNTER_BYTES);
    const [args] = bindHipPlan(lp, { ...io, counters: C });
    assert.deepEqual(args[6], { buffer: C }, 'counters bound, not the Q fallback');
    assert.deepEqual(args[5], { buffer: io.Q }, 'step (unread at DYNAMIC 0) falls back to Q');
    // one split: nothing to merge, no counters needed, the optional binding falls back as before
    const one = launchOf(v, { ...s, kvLength: 100, queryPos0: 99 });
    assert.equal(one.plan.counterWords, undefined);
    assert.deepEqual(bindHipPlan(one, io)[0][6], { buffer: io.Q });
  });

  it('argmax: MERGE 1 launches one pass over its blocks with one counter; MERGE 0 keeps the reduce launch', () => {
    const n = 100_000;
    const merged = launchOf(spec('argmax', 'f32', { WG: 128, ITEMS: 16, MERGE: 1 }), { n });
    assert.deepEqual(merged.steps.map((x) => [x.entry, x.grid]), [['kpack_argmax_f32_PASS0', [49, 1, 1]]]); // ceil(100000 / (128 * 16))
    assert.equal(merged.plan.counterWords, 1);
    const io = { X: fakeBuffer(4 * n), out: fakeBuffer(16), scratch: fakeBuffer(merged.plan.scratchBytes) };
    assert.throws(() => bindHipPlan(merged, io), (e: unknown) => e instanceof RangeError && /^argmax: the plan needs 1 zeroed u32 counters on "counters", got no buffer$/.test(e.message));
    const C = fakeBuffer(16);
    assert.deepEqual(bindHipPlan(merged, { ...io, counters: C })[0].slice(0, 4), [{ buffer: io.X }, { buffer: io.out }, { buffer: io.scratch }, { buffer: C }]);
    const reduce = launchOf(spec('argmax', 'f32', { WG: 128, ITEMS: 16, MERGE: 0 }), { n });
    assert.deepEqual(reduce.steps.map((x) => x.entry), ['kpack_argmax_f32_PASS0', 'kpack_argmax_f32_PASS1']);
    assert.equal(reduce.plan.counterWords, undefined);
    assert.equal(bindHipPlan(reduce, io).length, 2);
  });

  it('a dispatch point the variant rejects is reported, not launched', () => {
    const v = spec('attention.vec', 'f16', { WG: 64, TPR: 32, ROWS: 1, KV_CHUNK: 256, SG_REDUCE: 0 });
    const s: AttentionShape = { D: 64, heads: 4, kvHeads: 4, queries: 1, kvLength: 64, kvStride: 64, queryPos0: 63, causal: true, scale: 0.125 };
    const lp = hipLaunchPlan(v, s, 32);
    assert.ok('rejected' in lp && /TPR=32 > D\/4=16/.test(lp.rejected), JSON.stringify(lp));
  });

  it('bindHipPlan: buffers in order, the fallback for a missing optional binding, errors for missing ones and short scratch', () => {
    const mm = launchOf(spec('matmul.vec', 'f32'), { M: 8, N: 1, K: 64 });
    const [A, B, D, G] = [fakeBuffer(2048), fakeBuffer(256), fakeBuffer(32), fakeBuffer(256)];
    assert.deepEqual(bindHipPlan(mm, { A, B, D })[0].slice(0, 4), [{ buffer: A }, { buffer: B }, { buffer: D }, { buffer: A }]);
    assert.deepEqual(bindHipPlan(mm, { A, B, D, G })[0].slice(0, 4), [{ buffer: A }, { buffer: B }, { buffer: D }, { buffer: G }]);
    assert.throws(() => bindHipPlan(mm, { A, D }), /no buffer for binding B/);
    const at = launchOf(spec('attention.vec', 'f32', { KV_CHUNK: 128 }), { D: 64, heads: 2, kvHeads: 2, queries: 1, kvLength: 300, kvStride: 300, queryPos0: 299, causal: true, scale: 0.125 });
    const io = { Q: fakeBuffer(512), K: fakeBuffer(1 << 20), V: fakeBuffer(1 << 20), O: fakeBuffer(512) };
    assert.throws(() => bindHipPlan(at, io), RangeError);
    assert.throws(() => bindHipPlan(at, { ...io, scratch: fakeBuffer(at.plan.scratchBytes - 4) }), /needs \d+ bytes of scratch/);
    assert.equal(bindHipPlan(at, { ...io, scratch: fakeBuffer(at.plan.scratchBytes) }).length, 2);
  });

  it('hipDeviceSpace: the pruned space at the warp size and LDS; WAVES_PER_EU only where it means something (AMD)', () => {
    const hf = hipFamily('matmul.vec');
    const inst = hipInstance(hf, 'q4_0');
    const pruned = hipPrunedSpace(hf, inst, 32, 49152).kept;
    const cuda = hipDeviceSpace(hf, inst, { api: 'cuda', warpSize: 32, sharedMemPerBlock: 49152 });
    const amd = hipDeviceSpace(hf, inst, { api: 'hip', warpSize: 32, sharedMemPerBlock: 49152 });
    assert.deepEqual(amd, pruned);
    assert.deepEqual(cuda, pruned.filter((p) => p.WAVES_PER_EU === 0));
    assert.ok(cuda.length > 0 && amd.length > cuda.length);
    assert.deepEqual(hipDeviceSpace(hf, inst, { api: 'hip', warpSize: 64, sharedMemPerBlock: 1 << 20 }), hipPrunedSpace(hf, inst, 64, 65536).kept);
  });

  it('matmul.coopmat: one launch per call (no split-K), grid of BM x BN tiles, four bindings then M, N, K, splits 1, kChunk; device space by arch', () => {
    const hf = hipFamily('matmul.coopmat');
    const v: HipVariantSpec = { hf, inst: hipInstance(hf, 'q4_0'), params: hipDefaults(hf, 64) };
    const lp = launchOf(v, { M: 300, N: 130, K: 2048 } satisfies MatmulShape, 64);
    assert.equal(lp.steps.length, 1);
    assert.equal(lp.plan.scratchBytes, 0);
    assert.deepEqual(lp.steps[0].grid, [3, 2, 1]);
    assert.deepEqual(lp.steps[0].block, [256, 1, 1]);
    assert.equal(lp.steps[0].entry, 'kpack_matmul_coopmat_q4_0');
    assert.deepEqual(lp.steps[0].args.slice(4), [{ u32: 300 }, { u32: 130 }, { u32: 2048 }, { u32: 1 }, { u32: 2048 }]);
    // wave32 defaults (2 x 4 waves of 32) do not fit wave64, whose defaults are 2 x 2 waves of 64
    assert.ok('rejected' in hipLaunchPlan({ ...v, params: hipDefaults(hf) }, { M: 64, N: 64, K: 64 }, 64));
    const inst = hipInstance(hf, 'f16');
    assert.deepEqual(hipDeviceSpace(hf, inst, { api: 'hip', arch: 'gfx1030', warpSize: 32, sharedMemPerBlock: 65536 }), []);
    assert.deepEqual(hipDeviceSpace(hf, inst, { api: 'cuda', arch: 'sm_75', warpSize: 32, sharedMemPerBlock: 49152 }), []);
    const nv = hipDeviceSpace(hf, inst, { api: 'cuda', arch: 'sm_90', warpSize: 32, sharedMemPerBlock: 49152 });
    const cdna = hipDeviceSpace(hf, inst, { api: 'hip', arch: 'gfx90a', warpSize: 64, sharedMemPerBlock: 65536 });
    assert.ok(nv.length > 10 && cdna.length > 10, `${nv.length} / ${cdna.length} points`);
    assert.ok(nv.every((p) => p.WG === p.WM * p.WN * 32 && p.SPLIT_WGS === 0 && p.PRE_B === 0 && p.CM === 16 && hf.family.sharedMemoryBytes({ ...hf.family.defaults, ...p }, inst) <= 49152 - 64));
    assert.ok(cdna.every((p) => p.WG === p.WM * p.WN * 64));
    const { rejected } = hipPrunedSpace(hf, inst, 32, 65536, 'gfx1030');
    assert.deepEqual(Object.keys(rejected), ['no half-precision matrix instruction on gfxN']);
  });

  it('hipRotationSets: sets together span twice the L2, capped', () => {
    assert.equal(hipRotationSets(33_030_144), 4); // q4_0 4096 x 14336
    assert.equal(hipRotationSets(117_440_512), 1); // f16 4096 x 14336
    assert.equal(hipRotationSets(8_388_608), 13); // f16 K+V, 8 heads x 4096 x 64
    assert.equal(hipRotationSets(2 * H200_L2_BYTES), 1);
    assert.equal(hipRotationSets(1), MAX_HIP_ROTATION_SETS);
    assert.equal(hipRotationSets(1000, 1000), 2);
  });

  it('summarizeHipSamples: median, p10, p90 (linear interpolation) and its errors', () => {
    assert.deepEqual(summarizeHipSamples([7, 1, 11, 3, 9, 5, 2, 10, 4, 8, 6]), { n: 11, medianNs: 6, p10Ns: 2, p90Ns: 10 });
    const even = summarizeHipSamples(new Float64Array([4, 1, 3, 2]));
    assert.equal(even.medianNs, 2.5);
    assert.ok(Math.abs(even.p10Ns - 1.3) < 1e-12 && Math.abs(even.p90Ns - 3.7) < 1e-12);
    assert.deepEqual(summarizeHipSamples([5]), { n: 1, medianNs: 5, p10Ns: 5, p90Ns: 5 });
    assert.throws(() => summarizeHipSamples([]), RangeError);
    assert.throws(() => summarizeHipSamples([1, NaN]), RangeError);
  });
});

// ---- on the fake CUDA driver ----
const cxx = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
const addonBuilt = fs.existsSync(path.join(root, 'build', 'Release', 'kpack_hip.node'));
const fakeSkip = !cxx ? 'no C++ compiler to build the fake driver' : !addonBuilt ? 'build/Release/kpack_hip.node not built' : false;

/**
 * ctx, logging every call of timeHipVariant's context methods in order: 'L<set>' per launch, 'T'
 * timestamp, 'R' timestamps(), 'Y' synchronize; timestamps() returns the synthetic clock 1000 i^2 ns
 * for mark i (so sample r of a batch is 1000 (2r + 1) ns).
 */
function recording(ctx: HipContext, setOf: Map<GpuBuffer, number>): { ctx: HipContext; log: string[] } {
  const log: string[] = [];
  const rec: HipContext = {
    get device() {
      return ctx.device;
    },
    createBuffer: (bytes) => ctx.createBuffer(bytes),
    upload: (b, data, offset) => ctx.upload(b, data, offset),
    download: (b, offset, bytes) => ctx.download(b, offset, bytes),
    fill: (b, value, offset, bytes) => ctx.fill(b, value, offset, bytes),
    compile: (source, options) => ctx.compile(source, options),
    loadModule: (image) => ctx.loadModule(image),
    launch: (fn, grid, block, args, shared) => {
      const x = args[0] && 'buffer' in args[0] ? setOf.get(args[0].buffer) : undefined;
      log.push(`L${x}`);
      ctx.launch(fn, grid, block, args, shared);
    },
    time: (fn, grid, block, args, reps, shared) => ctx.time(fn, grid, block, args, reps, shared),
    timestamp: () => {
      log.push('T');
      return ctx.timestamp();
    },
    timestamps: () => {
      log.push('R');
      return Float64Array.from(ctx.timestamps(), (_, i) => 1000 * i * i);
    },
    synchronize: () => {
      log.push('Y');
      ctx.synchronize();
    },
    destroy: () => ctx.destroy(),
  };
  return { ctx: rec, log };
}

describe('HIP launching and timing on the fake CUDA driver (test/support/fake_cuda.cc)', { skip: fakeSkip }, () => {
  let dir = '';
  let ctx: HipContext;
  let halfDouble: KernelFunction;
  const add = spec('add', 'f32', { WG: 32 });
  /** The `add` entry, served by the fake's half_double (module doc). */
  const kernels = {
    fn(name: string): KernelFunction {
      assert.equal(name, 'kpack_add_f32');
      return halfDouble;
    },
  };
  const n = 1000;
  const fresh = (k: number): { X: GpuBuffer; Y: GpuBuffer; x: Float32Array } => {
    const x = Float32Array.from({ length: n }, (_, i) => (i % 97) * 0.25 - 11 + k);
    const X = ctx.createBuffer(4 * n);
    const Y = ctx.createBuffer(4 * n);
    ctx.upload(X, x);
    ctx.fill(Y, 0x7fc00000);
    return { X, Y, x };
  };
  const assertDoubled = (s: { Y: GpuBuffer; x: Float32Array }, what: string): void =>
    assert.deepEqual(Array.from(new Float32Array(ctx.download(s.Y, 0, 4 * n))), Array.from(s.x, (v) => 2 * v), what);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hiprun-'));
    const lib = path.join(dir, 'libfakecuda.so');
    execFileSync(cxx!, ['-std=c++17', '-shared', '-fPIC', '-O1', '-o', lib, path.join(root, 'test', 'support', 'fake_cuda.cc')]);
    Object.assign(process.env, { KPACK_HIP_PROVIDERS: 'cuda', KPACK_CUDA_LIB: lib, KPACK_NVRTC_LIB: lib });
    const a = hip.available();
    assert.ok(a.ok && a.cuda.ok && a.nvrtc.ok, `fake driver not picked up: ${JSON.stringify(a)}`);
    ctx = hip.createContext(0);
    halfDouble = ctx.compile(fs.readFileSync(path.join(root, 'native', 'hip', 'smoke-kernels.hip'), 'utf8')).fn('half_double');
  });
  after(() => {
    ctx?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('enqueueHipPlan: the binding buffers in order, the decoded element count, a grid covering it', () => {
    const s = fresh(0);
    enqueueHipPlan(ctx, kernels, launchOf(add, { n }), { X: s.X, Y: s.Y });
    ctx.synchronize();
    assertDoubled(s, 'Y = 2 X over all n elements');
  });

  it('timeHipVariant: probe, warm-up, batches with one repetition between events, round-robin over the sets', () => {
    const sets = [fresh(1), fresh(2), fresh(3)];
    const setOf = new Map(sets.map((s, i) => [s.X, i]));
    const rec = recording(ctx, setOf);
    const reps = 25;
    // Probe = 1000 ns on the synthetic clock: warm-up 0.02 ms -> 20 repetitions, lead 2.5 us -> 3.
    const r = timeHipVariant(rec.ctx, { spec: add, wave: 32, module: kernels }, { n }, sets.map((s) => ({ X: s.X, Y: s.Y })), { reps, repsPerBatch: 7, warmupMs: 0.02, leadUs: 2.5 });
    const batchNs = (count: number) => Array.from({ length: count }, (_, i) => 1000 * (2 * i + 1));
    assert.deepEqual(r, { ...summarizeHipSamples([7, 7, 7, 4].flatMap(batchNs)), sets: 3, warmupReps: 20, stoppedByTime: false });
    sets.forEach((s, i) => assertDoubled(s, `set ${i}`));

    const log = rec.log;
    const launches = log.filter((e) => e.startsWith('L'));
    assert.deepEqual(launches, launches.map((_, i) => `L${i % 3}`), 'repetition i binds set i % 3');
    // Rounds of events: a flush, the probe (one repetition), then ceil(25 / 7) = 4 batches.
    const rounds = log.join(' ').split('R').map((x) => x.trim());
    assert.equal(rounds[0], '', 'starts by discarding earlier timestamps');
    assert.equal(rounds[1], 'T L0 T', 'probe');
    const batches = rounds.slice(2, -1);
    assert.equal(rounds.at(-1), '');
    assert.deepEqual(batches.map((b) => b.split(' ').filter((e) => e === 'T').length - 1), [7, 7, 7, 4]);
    assert.match(batches[0], /^(L\d ){20}Y (L\d ){3}T( L\d T){7}$/, 'warm-up, synchronize, lead, then timed repetitions');
    for (const b of batches.slice(1)) assert.match(b, /^(L\d ){3}T( L\d T)+$/, 'lead, then one repetition between events');
  });

  it('timeHipVariant on the driver\'s own events: positive, ordered statistics of `reps` samples', () => {
    const s = fresh(5);
    const r = timeHipVariant(ctx, { spec: add, wave: 32, module: kernels }, { n }, [{ X: s.X, Y: s.Y }], { reps: 40, warmupMs: 1 });
    assert.equal(r.n, 40);
    assert.ok(r.p10Ns > 0 && r.p10Ns <= r.medianNs && r.medianNs <= r.p90Ns && r.p90Ns < 1e9, JSON.stringify(r));
    assertDoubled(s, 'Y = 2 X');
  });

  it('timeHipVariant: errors for no sets, a missing binding, reps < 1', () => {
    const s = fresh(4);
    const v = { spec: add, wave: 32, module: kernels };
    assert.throws(() => timeHipVariant(ctx, v, { n }, []), /no buffer sets/);
    assert.throws(() => timeHipVariant(ctx, v, { n }, [{ X: s.X }]), /no buffer for binding Y/);
    assert.throws(() => timeHipVariant(ctx, v, { n }, [{ X: s.X, Y: s.Y }], { reps: 0 }), RangeError);
  });

  it('autotuneHip runs its loop end to end on the fake driver: inputs, rotation, compiles; a kernel the driver lacks is skipped, nothing unvalidated is recorded', () => {
    const logs: string[] = [];
    const w = matmulWorkload('f32', { M: 64, N: 1, K: 64 });
    const entries = autotuneHip({ ctx, workloads: [w], budgetMs: 1500, maxTimeMs: 20, log: (m) => logs.push(m) });
    assert.deepEqual(entries, []);
    assert.ok(logs.some((m) => /launch failed: .*cuModuleGetFunction/.test(m)), logs.slice(0, 3).join('\n'));
    assert.ok(logs.some((m) => m.includes(`${w.label}: nothing validated (0 timed)`)), logs.join('\n'));
  });

  it('counters: createHipCounters is zeroed, hipCountersAtZero reads them back; the tuner\'s buffer sets share one zeroed COUNTER_BYTES buffer', () => {
    const c = createHipCounters(ctx, 64);
    try {
      assert.equal(c.size, 64);
      assert.deepEqual([...new Uint32Array(ctx.download(c, 0, 64))], new Array(16).fill(0));
      assert.ok(hipCountersAtZero(ctx, c, 16));
      ctx.upload(c, Uint32Array.of(3), 40);
      assert.ok(hipCountersAtZero(ctx, c, 10), 'words before the touched one');
      assert.ok(!hipCountersAtZero(ctx, c, 11));
    } finally {
      c.destroy();
    }
    const bufs = uploadHipSets(ctx, { inputs: { X: new Float32Array(8) }, output: { name: 'Y', elems: 8 } }, 3, 64);
    try {
      assert.equal(bufs.counters.size, COUNTER_BYTES);
      assert.ok(bufs.sets.every((s) => s.counters === bufs.counters), 'one counters buffer for every set');
      assert.notEqual(bufs.sets[0].X, bufs.sets[1].X);
      assert.ok(hipCountersAtZero(ctx, bufs.counters, COUNTER_BYTES / 4));
    } finally {
      bufs.destroy();
    }
  });

  it('HipModuleCache compiles each distinct source once', () => {
    const cache = new HipModuleCache(ctx);
    const a = cache.load(add);
    assert.equal(a.wave, 32);
    assert.equal(cache.load({ ...add, params: { ...add.params } }).module, a.module);
    assert.equal(cache.compiles, 1);
    assert.notEqual(cache.load(spec('add', 'f32', { WG: 64 })).module, a.module);
    assert.equal(cache.compiles, 2);
    assert.ok(cache.compileMs >= 0);
    cache.destroy();
    assert.notEqual(cache.load(add).module, a.module, 'destroy() empties the cache');
    cache.destroy();
  });
});
