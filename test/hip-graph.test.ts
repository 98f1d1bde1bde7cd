/**
 * The HIP Llama graph (runtime/model/llama-hip.ts) and its kernel choice (runtime/hip/*).
 * - Without a GPU: the HIP default sources written by `kpack generate` (dist/kernels/hip) and their
 *   checks; HIP entry sources in packs (write/read round trip, tampered text, older packs without sources,
 *   another wave); kernel choice (pack entry of the call's bucket vs the defaults, routes when a family
 *   rejects a shape); the whole graph (prompt chunk, decode steps, greedy chain) on a recording fake
 *   HipContext whose compile() checks that every launched entry is defined in the compiled source with
 *   as many parameters as arguments; the graph's one zeroed counters buffer bound to every attention and
 *   argmax launch (a MERGE 1 attention.vec pack entry at a depth of several splits: no reduce launch); the
 *   errors of --backend hip.
 * - On a HIP / CUDA GPU (skipped with a message without one): the HIP graph's logits against the Vulkan
 *   graph's on the same synthetic models (f32 K/V), for a prompt chunk and decode steps, and equal greedy
 *   tokens.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hipDefaults, hipFamily, hipInstance } from '../generator/hip/families';
import { hipLaunchPlan, runtimeSourceGroups } from '../generator/hip/launch';
import { renderRuntimeSources } from '../generator/hip/sources';
import { hip } from '../native/hip';
import type { Availability, GpuBuffer, HipContext, HipDeviceInfo, KernelArg, KernelFunction, Module } from '../native/hip/api';
import { openHipDevice } from '../runtime/hip/device';
import { HipKernelSet, hipRequestBucket, hipRoute } from '../runtime/hip/kernels';
import { openHipModel } from '../runtime/hip/session';
import { HipDefaultSources } from '../runtime/hip/sources';
import { preset } from '../runtime/presets';
import { synthModel } from '../runtime/synth';
import type { HipTunedEntry, Pack } from '../tuner/pack/format';
import { readPack } from '../tuner/pack/read';
import { createPack, currentToolchain, writePack } from '../tuner/pack/write';
import { relativeError } from '../tuner/reference/matmul';
import { matmulBucket } from '../tuner/workloads';
import { hipPacks } from '../bin/commands/run';
import { kpack } from './support/cli';

const kernelsDir = path.join(__dirname, '..', 'kernels');
const haveSources = fs.existsSync(path.join(kernelsDir, 'hip', 'manifest.json'));

/** One launch the fake context saw. */
interface Launch {
  name: string;
  grid: [number, number, number];
  block: [number, number, number];
  args: KernelArg[];
}

/** A HIP context that runs nothing: buffers are sizes, compile() indexes the entries of the source, launches are recorded. */
function fakeContext(warpSize = 32): HipContext & { launches: Launch[]; compiled: number } {
  const device: HipDeviceInfo = {
    index: 0, api: 'cuda', ordinal: 0, name: 'Fake GPU', arch: 'sm_90', archFull: 'sm_90', computeCapability: [9, 0], warpSize, multiprocessorCount: 132,
    maxThreadsPerBlock: 1024, sharedMemPerBlock: 49152, sharedMemPerBlockOptin: 232448, totalMem: 2 ** 36, driverVersion: '13.0',
  };
  const live = new Set<GpuBuffer>();
  const ctx = {
    device,
    launches: [] as Launch[],
    compiled: 0,
    createBuffer(bytes: number): GpuBuffer {
      const b: GpuBuffer = { size: bytes, destroy: () => void live.delete(b) };
      live.add(b);
      return b;
    },
    upload(buffer: GpuBuffer, data: ArrayBufferView, offset = 0) {
      assert.ok(live.has(buffer), 'upload to a destroyed buffer');
      assert.ok(offset + data.byteLength <= buffer.size, `upload of ${data.byteLength} bytes at ${offset} into ${buffer.size}`);
    },
    download(buffer: GpuBuffer, offset: number, bytes: number) {
      assert.ok(offset + bytes <= buffer.size);
      return new ArrayBuffer(bytes);
    },
    fill() {},
    compile(source: string): Module {
      ctx.compiled++;
      return {
        log: '',
        format: 'ptx',
        fn(name: string): KernelFunction {
          const at = source.indexOf(`KPACK_KERNEL ${name}(`);
          if (at < 0) throw new Error(`cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND (${name})`);
          const params = source.slice(at, source.indexOf(')', at)).split(',').length;
          return { name, info: { maxThreadsPerBlock: 1024, registers: 32, staticSharedBytes: 0, localBytes: 0, paramSizes: new Array(params).fill(8) } };
        },
        destroy() {},
      };
    },
    loadModule(): Module {
      throw new Error('not in the fake');
    },
    launch(fn: KernelFunction, grid: [number, number, number], block: [number, number, number], args: KernelArg[]) {
      assert.equal(args.length, fn.info.paramSizes!.length, `${fn.name}: ${args.length} arguments for ${fn.info.paramSizes!.length} parameters`);
      for (const a of args) {
        if ('buffer' in a) {
          assert.ok(live.has(a.buffer), `${fn.name}: a destroyed buffer`);
          assert.ok((a.offset ?? 0) < a.buffer.size, `${fn.name}: offset ${a.offset} past a ${a.buffer.size}-byte buffer`);
        }
      }
      assert.ok(grid.every((g) => Number.isInteger(g) && g >= 1) && block[0] >= 1 && block[0] <= 1024, `${fn.name}: grid ${grid} block ${block}`);
      ctx.launches.push({ name: fn.name, grid, block, args });
    },
    time: () => 0,
    timestamp: () => 0,
    timestamps: () => new Float64Array(0),
    synchronize() {},
    destroy() {},
  };
  return ctx as unknown as HipContext & { launches: Launch[]; compiled: number };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hip-graph-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
/** test-k (dim 256, head dim 64, tied) synthesized once per type. */
const model = (type: 'f32' | 'q4_0'): string => {
  const file = path.join(dir, `test-k-${type}.gguf`);
  if (!fs.existsSync(file)) synthModel(preset('test-k'), type, file, { seed: 5 });
  return file;
};

describe('HIP default sources (dist/kernels/hip)', { skip: haveSources ? false : 'dist/kernels/hip not built: run npm run build:kernels' }, () => {
  test('every family instance has default sources at waves 32 and 64 with the runtime entries of its groups', () => {
    const d = HipDefaultSources.open(kernelsDir);
    const hf = hipFamily('matmul.vec');
    const p = hipDefaults(hf);
    const src = d.find('matmul.vec', 'q4_0', 32, p, 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU1_RESIDUAL0');
    assert.ok(src, 'no NCOLS1 NORM+GLU source');
    assert.deepEqual(src.entries.sort(), ['kpack_matmul_vec_q4_0_NCOLS1_NORM0_GLU0_RESIDUAL0', 'kpack_matmul_vec_q4_0_NCOLS1_NORM0_GLU0_RESIDUAL1', 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU0_RESIDUAL0', 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU1_RESIDUAL0']);
    assert.match(src.text, /#define WAVE 32/);
    assert.ok(d.find('matmul.vec', 'q4_0', 64, p, 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU1_RESIDUAL0')!.text.includes('#define WAVE 64'));
    assert.equal(d.find('matmul.vec', 'q4_0', 32, p, 'kpack_matmul_vec_q4_0_NCOLS1_NORM0_GLU1_RESIDUAL0'), null, 'GLU without NORM is never launched, so never built');
    assert.equal(d.find('matmul.vec', 'q4_0', 32, { ...p, WG: p.WG * 2 }, 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU1_RESIDUAL0'), null, 'other params are not the defaults');
    for (const id of ['embed', 'rms_norm', 'rope_kv', 'swiglu', 'add', 'argmax', 'matmul.tile', 'attention.tile']) {
      const f = hipFamily(id);
      for (const inst of f.instances) {
        const pts = runtimeSourceGroups(f, hipInstance(f, inst), hipDefaults(f), 32).flat();
        assert.ok(pts.length > 0, `${id}/${inst}: no runtime point`);
      }
    }
  });

  test('a missing bundle or a changed source file is an error naming the fix', () => {
    assert.throws(() => HipDefaultSources.open(path.join(dir, 'nowhere')), /HIP default kernel sources .* are missing: run `npm run build:kernels`/);
    const copy = path.join(dir, 'kernels-copy');
    fs.cpSync(path.join(kernelsDir, 'hip'), path.join(copy, 'hip'), { recursive: true });
    const d = HipDefaultSources.open(copy);
    const rec = d.manifest.sources.find((r) => r.family === 'add' && r.wave === 32)!;
    fs.appendFileSync(path.join(copy, 'hip', rec.file), '// edited\n');
    assert.throws(() => d.find('add', 'f32', 32, rec.params, rec.entries[0]), /hashes to [0-9a-f]{64}, not/);
  });
});

/** A HIP entry for the q,k,v matmul bucket at N = 1 of test-k q4_0, with non-default params and its sources at `wave`. */
function qkvEntry(wave: number, withSources = true): HipTunedEntry {
  const hf = hipFamily('matmul.vec');
  const inst = hipInstance(hf, 'q4_0');
  const params = { ...hipDefaults(hf), WG: 128, RPT: 1 };
  const cfg = preset('test-k');
  const shape = { M: cfg.heads * cfg.headDim + 2 * cfg.kvHeads * cfg.headDim, N: 1, K: cfg.dim };
  const bucket = matmulBucket('q4_0', shape);
  const e: HipTunedEntry = { op: 'matmul', bucket, instance: 'q4_0', family: 'matmul.vec', params, point: { ...shape }, medianNs: 1000, defaultMedianNs: 2000, relError: 1e-7 };
  if (withSources) e.sources = renderRuntimeSources({ hf, inst, params }, wave, (d) => d.NCOLS === 1);
  return e;
}

const hipPack = (entries: HipTunedEntry[], warpSize = 32): Pack =>
  createPack({
    device: null,
    toolchain: currentToolchain('test'),
    hip: { device: { name: 'Fake GPU', api: 'cuda', arch: 'sm_90', warpSize, driverVersion: '13.0' }, compiler: 'NVRTC 13.0', entries },
    name: 'hip-test',
  });

describe('HIP entry sources in packs', () => {
  test('sources survive writePack / readPack; a tampered text is refused; packs without sources still load', () => {
    const file = path.join(dir, 'hip.kpack');
    writePack(file, hipPack([qkvEntry(32)]));
    const back = readPack(file);
    const e = back.manifest.hip!.entries[0];
    assert.equal(e.sources!.length, 1);
    assert.ok(e.sources![0].entries.includes('kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU0_RESIDUAL0'));
    assert.match(e.sources![0].text, /#define WG 128/);
    // tamper: change the text inside the gzip'd document
    const zlib = require('node:zlib') as typeof import('node:zlib');
    const doc = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
    doc.hip.entries[0].sources[0].text += '\n// edited';
    fs.writeFileSync(path.join(dir, 'bad.kpack'), zlib.gzipSync(JSON.stringify(doc)));
    assert.throws(() => readPack(path.join(dir, 'bad.kpack')), /hash mismatch for HIP source/);
    // an older pack: HIP results without sources
    writePack(path.join(dir, 'old.kpack'), hipPack([qkvEntry(32, false)]));
    assert.equal(readPack(path.join(dir, 'old.kpack')).manifest.hip!.entries[0].sources, undefined);
  });
});

describe('HIP kernel choice and the HIP graph on a recording fake context', { skip: haveSources ? false : 'dist/kernels/hip not built: run npm run build:kernels' }, () => {
  let defaults: HipDefaultSources;
  before(() => {
    defaults = HipDefaultSources.open(kernelsDir);
  });

  test('routes and bucket keys', () => {
    assert.deepEqual(hipRoute('matmul', 1), ['matmul.vec', 'matmul.tile']);
    assert.deepEqual(hipRoute('matmul', 9), ['matmul.coopmat', 'matmul.tile']);
    assert.deepEqual(hipRoute('attention', 8), ['attention.vec', 'attention.tile']);
    assert.deepEqual(hipRoute('rms_norm', 1), ['rms_norm']);
    assert.equal(hipRequestBucket({ op: 'matmul', instance: 'q4_0', shape: { M: 512, N: 3, K: 256 }, shapeKey: { M: 512, K: 256 }, batch: 3, depth: 0 }), 'matmul/q4_0/M=512,K=256/N=2-8');
    assert.equal(
      hipRequestBucket({ op: 'attention', instance: 'f16', shape: {} as never, shapeKey: { D: 64, heads: 32, kvHeads: 8 }, batch: 1, depth: 2000 }),
      'attention/f16/D=64,heads=32,kvHeads=8/queries=1,depth=1024-8191',
    );
    assert.equal(hipRequestBucket({ op: 'add', instance: 'f32', shape: { n: 4 }, shapeKey: null, batch: 1, depth: 0 }), null);
  });

  test('a pack entry serves its bucket; other buckets, older packs and other waves get the defaults; a rejected family falls through', () => {
    const ctx = fakeContext(32);
    const cfg = preset('test-k');
    const M = cfg.heads * cfg.headDim + 2 * cfg.kvHeads * cfg.headDim;
    const req = (N: number, M2 = M) => ({ op: 'matmul' as const, instance: 'q4_0', shape: { M: M2, N, K: cfg.dim, epilogue: { norm: { eps: 1e-5 } } }, shapeKey: { M: M2, K: cfg.dim }, batch: N, depth: 0 });
    const ks = new HipKernelSet(ctx, [hipPack([qkvEntry(32)])], defaults);
    const c = ks.choose(req(1));
    assert.equal(c.level, 'exact');
    assert.equal(c.spec.params.WG, 128);
    assert.equal(ks.choose(req(2)).level, 'default', 'N=2 is another bucket');
    assert.equal(ks.choose(req(1, cfg.dim)).level, 'default', 'another matrix');
    assert.equal(ks.choose(req(64)).spec.hf.family.id, 'matmul.tile');
    const old = new HipKernelSet(ctx, [hipPack([qkvEntry(32, false)])], defaults);
    assert.equal(old.choose(req(1)).level, 'default');
    assert.match(old.skipped[0].reason, /no HIP sources/);
    const wave64 = new HipKernelSet(ctx, [hipPack([qkvEntry(64)], 64)], defaults);
    assert.equal(wave64.choose(req(1)).level, 'default');
    assert.match(wave64.skipped[0].reason, /wave 64/);
    // attention.vec's defaults reject head dim 16 (TPR 8 > D/4): the decode call falls through to attention.tile
    const att = { op: 'attention' as const, instance: 'f32', shape: { D: 16, heads: 4, kvHeads: 2, queries: 1, kvLength: 5, kvStride: 256, queryPos0: 4, causal: true, scale: 0.25 }, shapeKey: { D: 16, heads: 4, kvHeads: 2 }, batch: 1, depth: 4 };
    const hf = hipFamily('attention.vec');
    assert.ok('rejected' in hipLaunchPlan({ hf, inst: hipInstance(hf, 'f32'), params: hipDefaults(hf) }, att.shape, 32));
    assert.equal(ks.choose(att).spec.hf.family.id, 'attention.tile');
    // an op with no HIP instance: an error naming it
    assert.throws(() => ks.choose({ op: 'embed', instance: 'q5_1', shape: { tokens: 1, dim: 8 }, shapeKey: null, batch: 1, depth: 0 }), /no HIP kernel for embed \(q5_1\)/);
  });

  for (const type of ['f32', 'q4_0'] as const) {
    test(`graph on test-k ${type}: prompt chunk, decode steps and the greedy chain launch the expected entries`, () => {
      const ctx = fakeContext(32);
      const s = openHipModel(ctx, model(type), { packs: [], defaults, contextLength: 128, maxBatch: 32, kvType: 'f16' });
      try {
        const L = s.cfg.layers;
        const names = () => ctx.launches.splice(0).map((l) => l.name);
        // prompt chunk of 20 tokens: GEMM, separate norms / swiglu / adds, attention.tile
        s.graph.forward(Array.from({ length: 20 }, (_, i) => i + 1), 0, 'logits');
        const pp = names();
        const count = (xs: string[], re: RegExp) => xs.filter((n) => re.test(n)).length;
        const mmType = type === 'f32' ? 'f32' : 'q4_0';
        assert.equal(count(pp, new RegExp(`^kpack_matmul_tile_${mmType}$`)), 4 * L, `prompt GEMMs: ${pp.join(' ')}`);
        assert.equal(count(pp, /^kpack_attention_tile_f16_D64$/), L);
        assert.equal(count(pp, /^kpack_rms_norm_f32$/), 2 * L);
        assert.equal(count(pp, /^kpack_swiglu_f32$/), L);
        assert.equal(count(pp, /^kpack_add_f32$/), 2 * L);
        assert.equal(count(pp, /^kpack_rope_kv_f16_DYNAMIC0$/), L);
        assert.equal(count(pp, /NORM1_GLU0_RESIDUAL0$/), 1, 'the output head: one fused norm GEMV');
        // one decode step: fused GEMVs only
        const decodeLaunches = (xs: string[]) => ({
          norm: count(xs, /^kpack_matmul_vec_.*_NCOLS1_NORM1_GLU0_RESIDUAL0$/),
          glu: count(xs, /^kpack_matmul_vec_.*_NCOLS1_NORM1_GLU1_RESIDUAL0$/),
          residual: count(xs, /^kpack_matmul_vec_.*_NCOLS1_NORM0_GLU0_RESIDUAL1$/),
          attn: count(xs, /^kpack_attention_vec_f16_D64_PASS0_DYNAMIC0$/),
          argmax: count(xs, /^kpack_argmax_f32_PASS\d$/),
          separate: count(xs, /^kpack_(rms_norm|swiglu|add|matmul_tile)/),
        });
        assert.equal(typeof s.graph.forward([7], 20, 'argmax'), 'number');
        const am = hipFamily('argmax');
        const amPlan = hipLaunchPlan({ hf: am, inst: hipInstance(am, 'f32'), params: hipDefaults(am) }, { n: s.cfg.vocab }, 32);
        assert.ok(!('rejected' in amPlan));
        assert.deepEqual(decodeLaunches(names()), { norm: L + 1, glu: L, residual: 2 * L, attn: L, argmax: amPlan.steps.length, separate: 0 });
        // greedy: 40 steps = two chained submissions (CHAIN_MAX 32); step j's embed reads the slot step j - 1's argmax wrote
        const out = s.graph.greedy(3, 21, 40);
        assert.equal(out.length, 40);
        const g = ctx.launches.splice(0);
        const embeds = g.filter((l) => l.name.startsWith('kpack_embed_'));
        const argmaxes = g.filter((l) => l.name.startsWith('kpack_argmax_'));
        assert.equal(embeds.length, 40);
        const perStep = argmaxes.length / 40;
        const argmaxOut = Array.from({ length: 40 }, (_, j) => argmaxes[j * perStep]); // every pass binds `out` second
        const idArg = (l: Launch) => l.args[1] as { buffer: GpuBuffer; offset?: number };
        const outArg = (l: Launch) => l.args[1] as { buffer: GpuBuffer; offset?: number };
        for (let j = 1; j < 32; j++) {
          assert.equal(idArg(embeds[j]).buffer, outArg(argmaxOut[j - 1]).buffer, `step ${j}: ids buffer`);
          assert.equal(idArg(embeds[j]).offset ?? 0, outArg(argmaxOut[j - 1]).offset ?? 0, `step ${j}: ids offset`);
        }
        assert.equal(s.kernels.levelCounts.exact ?? 0, 0);
        assert.ok(ctx.compiled <= 16, `${ctx.compiled} sources compiled (one per distinct source)`);
        assert.throws(() => s.graph.forward([1], 128, 'none'), /exceed the context length/);
        assert.throws(() => s.graph.forward([600], 0, 'none'), /outside the vocabulary/);
      } finally {
        s.close();
      }
    });
  }

  test('MERGE 1: an attention.vec pack entry merging in its last split launches no reduce pass; attention and argmax get the graph\'s zeroed counters', () => {
    const ctx = fakeContext(32);
    const uploads: Array<{ buffer: GpuBuffer; bytes: number; zero: boolean }> = [];
    const upload = ctx.upload.bind(ctx);
    ctx.upload = (buffer: GpuBuffer, data: ArrayBufferView | ArrayBuffer, offset?: number) => {
      const v = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
      uploads.push({ buffer, bytes: v.byteLength, zero: v.every((x) => x === 0) });
      upload(buffer, data as ArrayBufferView, offset);
    };
    const cfg = preset('test-k');
    const hf = hipFamily('attention.vec');
    const inst = hipInstance(hf, 'f16');
    const params = { ...hipDefaults(hf), KV_CHUNK: 32, MERGE: 1 };
    const probe = openHipModel(fakeContext(32), model('q4_0'), { packs: [], defaults, contextLength: 256, maxBatch: 8, kvType: 'f16' });
    const req = probe.graph.attentionRequest(1, 100);
    probe.close();
    const entry: HipTunedEntry = {
      op: 'attention', bucket: hipRequestBucket(req)!, instance: 'f16', family: 'attention.vec', params, point: { ...req.shape }, medianNs: 1000, defaultMedianNs: 2000, relError: 1e-6,
      sources: renderRuntimeSources({ hf, inst, params }, 32, (d) => d.D === cfg.headDim),
    };
    const s = openHipModel(ctx, model('q4_0'), { packs: [hipPack([entry])], defaults, contextLength: 256, maxBatch: 8, kvType: 'f16' });
    try {
      ctx.launches.splice(0);
      s.graph.forward([1], 100, 'argmax');
      const L = s.cfg.layers;
      assert.equal(s.kernels.levelCounts.exact, L, 'one attention per layer from the pack');
      const att = ctx.launches.filter((l) => l.name.startsWith('kpack_attention_vec_'));
      assert.deepEqual(att.map((l) => l.name), new Array(L).fill('kpack_attention_vec_f16_D64_PASS0_DYNAMIC0'), 'no PASS1 launch');
      const lp = hipLaunchPlan({ hf, inst, params }, req.shape, 32);
      assert.ok(!('rejected' in lp) && lp.plan.counterWords! > 0 && att.every((l) => l.grid[2] === 4), '4 splits of 32 rows, merged in the last');
      const countersOf = (l: Launch, i: number) => (l.args[i] as { buffer: GpuBuffer }).buffer;
      const C = countersOf(att[0], 6);
      assert.ok(att.every((l) => countersOf(l, 6) === C && countersOf(l, 6) !== countersOf(l, 0)), 'one counters buffer, not the Q fallback');
      const am = ctx.launches.filter((l) => l.name.startsWith('kpack_argmax_'));
      assert.ok(am.length > 0 && am.every((l) => countersOf(l, 3) === C), 'argmax binds the same counters');
      assert.ok(C.size >= 4 * lp.plan.counterWords!);
      // allocated and zeroed once (when the graph was built), never uploaded again by forward()
      assert.deepEqual(uploads.filter((u) => u.buffer === C).map((u) => [u.bytes, u.zero]), [[C.size, true]]);
    } finally {
      s.close();
    }
  });

  test('a pack entry is launched inside the graph (its entry names, its params in the source)', () => {
    const ctx = fakeContext(32);
    const s = openHipModel(ctx, model('q4_0'), { packs: [hipPack([qkvEntry(32)])], defaults, contextLength: 64, maxBatch: 8, kvType: 'f32' });
    try {
      s.graph.forward([1], 0, 'argmax');
      assert.equal(s.kernels.levelCounts.exact, s.cfg.layers, 'one qkv GEMV per layer from the pack');
      const qkv = ctx.launches.filter((l) => l.name === 'kpack_matmul_vec_q4_0_NCOLS1_NORM1_GLU0_RESIDUAL0');
      // WG 128, RPT 1, KSPLIT 8: 16 rows per block; the default WG 64, RPT 2: 16 rows as well, so check the block size
      assert.ok(qkv.some((l) => l.block[0] === 128), `blocks ${qkv.map((l) => l.block[0])}`);
    } finally {
      s.close();
    }
  });
});

test('the HIP runtime loads without the template engine', () => {
  const probe = `for (const m of (process.env.PROBE ?? 'runtime/hip/session,runtime/hip/device,bin/commands/bench,bin/commands/run').split(',')) require(${JSON.stringify(path.join(__dirname, '..'))} + '/' + m);
    console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules\\/handlebars|generator\\/(hip\\/)?render\\.js/.test(k))));`;
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), []);
});

describe('--backend hip errors', () => {
  test('no device / no compiler / bad device index name the option', () => {
    const no = { ok: false, reason: 'libcuda.so.1 not found' };
    const avail: Availability = { ...no, cuda: no, hip: no, nvrtc: no, hiprtc: no };
    assert.throws(() => openHipDevice(0, avail), /--backend hip: no HIP \/ CUDA device \(libcuda.so.1 not found\); expected/);
  });

  test('--pack without HIP results, without sources, or of another device', () => {
    const dev = fakeContext(32).device;
    const warn: string[] = [];
    writePack(path.join(dir, 'vk.kpack'), createPack({ device: null, toolchain: currentToolchain('test'), name: 'vk' }));
    assert.throws(() => hipPacks(path.join(dir, 'vk.kpack'), false, false, dev, (m) => warn.push(m)), /--pack .*vk.kpack: no HIP results \(expected a pack written by `kpack autotune --backend hip\|all`/);
    writePack(path.join(dir, 'old2.kpack'), hipPack([qkvEntry(32, false)]));
    assert.throws(() => hipPacks(path.join(dir, 'old2.kpack'), false, false, dev, (m) => warn.push(m)), /carry no kernel sources/);
    writePack(path.join(dir, 'ok.kpack'), hipPack([qkvEntry(32)]));
    assert.equal(hipPacks(path.join(dir, 'ok.kpack'), false, false, dev, (m) => warn.push(m)).packs.length, 1);
    const other = { ...dev, name: 'Other GPU' };
    assert.throws(() => hipPacks(path.join(dir, 'ok.kpack'), false, false, other, (m) => warn.push(m)), /tuned on Fake GPU .*pass --force-pack/);
    assert.equal(hipPacks(path.join(dir, 'ok.kpack'), true, false, other, (m) => warn.push(m)).packs.length, 1);
    assert.match(warn.join('\n'), /using it anyway/);
    assert.throws(() => hipPacks(path.join(dir, 'missing.kpack'), false, false, dev, () => {}), /--pack .*missing.kpack: no such file/);
  });

  test('kpack bench --backend hip refuses --vs-defaults, and says why without a HIP device', () => {
    const r = kpack(['bench', '-m', model('f32'), '--backend', 'hip', '--vs-defaults', '-p', '8', '-n', '4', '-r', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--vs-defaults is not supported with --backend hip/);
    if (!hip.available().ok) {
      const r2 = kpack(['bench', '-m', model('f32'), '--backend', 'hip', '-p', '8', '-n', '4', '-r', '1']);
      assert.notEqual(r2.status, 0);
      assert.match(r2.stderr, /--backend hip: no HIP \/ CUDA device/);
    }
  });
});

// ---- on a HIP / CUDA GPU ----

const hipWhy = (() => {
  const a = hip.available();
  if (!a.ok) return `no HIP / CUDA device: ${a.reason}`;
  if (!haveSources) return 'dist/kernels/hip not built: run npm run build:kernels';
  return '';
})();

describe('HIP graph against the Vulkan graph on a GPU', { skip: hipWhy ? `skipped: ${hipWhy}` : false }, () => {
  for (const type of ['f32', 'q4_0'] as const) {
    test(`test-k ${type}, f32 K/V: prompt-chunk and decode logits within 1e-3 of Vulkan's; greedy tokens equal`, (t) => {
      // loaded here so a machine without Vulkan skips with a message instead of failing at import
      const { isAvailable, vulkan } = require('../native/vulkan') as typeof import('../native/vulkan');
      if (!(isAvailable() && vulkan.listDevices().length > 0)) return void t.skip('no Vulkan device to compare with');
      const { openModel } = require('../runtime/session') as typeof import('../runtime/session');
      const vctx = vulkan.createContext(0);
      const { ctx: hctx, description } = openHipDevice(Number(process.env.KPACK_HIP_DEVICE ?? 0));
      console.log(`# ${description}; Vulkan ${vctx.device.name}`);
      const file = model(type);
      const opts = { contextLength: 128, maxBatch: 32, kvType: 'f32' as const };
      const v = openModel(vctx, file, { ...opts, packs: [readPack(path.join(__dirname, '..', 'default.kpack'))] });
      const h = openHipModel(hctx, file, { ...opts, packs: [], defaults: HipDefaultSources.open(kernelsDir) });
      try {
        const prompt = Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % h.cfg.vocab);
        const report: string[] = [];
        const check = (what: string, a: Float32Array, b: Float32Array) => {
          const err = relativeError(a, b);
          let worst = 0;
          for (let i = 1; i < a.length; i++) if (Math.abs(a[i] - b[i]) > Math.abs(a[worst] - b[worst])) worst = i;
          report.push(`${what}: rel err ${err.toExponential(2)} (worst logit ${worst}: hip ${a[worst]} vulkan ${b[worst]}; finite ${a.every(Number.isFinite)})`);
          return err;
        };
        const errs = [check('prompt chunk (24 tokens)', h.graph.forward(prompt, 0, 'logits'), v.graph.forward(prompt, 0, 'logits'))];
        let tok = 11;
        for (let pos = prompt.length; pos < prompt.length + 6; pos++) {
          const a = h.graph.forward([tok], pos, 'logits');
          errs.push(check(`decode at ${pos}`, a, v.graph.forward([tok], pos, 'logits')));
          tok = (tok * 13 + 7) % h.cfg.vocab;
        }
        const p0 = prompt.length + 6;
        const gh = h.graph.greedy(tok, p0, 40);
        const gv = v.graph.greedy(tok, p0, 40);
        console.log(`# ${type}:\n#   ${report.join('\n#   ')}\n#   greedy hip ${[...gh].join(',')}\n#   greedy vk  ${[...gv].join(',')}\n#   HIP kernels: ${JSON.stringify(h.kernels.levelCounts)}, ${h.kernels.compiles} sources compiled in ${h.kernels.compileMs.toFixed(0)} ms`);
        for (const e of errs) assert.ok(e < 1e-3, report.join('\n'));
        assert.deepEqual([...gh], [...gv], `greedy tokens differ:\n hip ${[...gh]}\n vk  ${[...gv]}`);
      } finally {
        h.close();
        v.close();
        hctx.destroy();
        vctx.destroy();
      }
    });
  }
});
