/** Tuner core without a GPU: stats, search strategies, anchor drift, journal resume, workloads. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { Params } from '../generator/schema';
import { Anchor } from '../tuner/anchor';
import { Journal, JournalMismatchError, UNFINISHED_REASON } from '../tuner/journal';
import { formatReport, reportJson } from '../tuner/report';
import { type Roofline, rooflinePct } from '../tuner/roofline';
import { exhaustive } from '../tuner/search/exhaustive';
import { EXHAUSTIVE_MAX, pickStrategy } from '../tuner/search/index';
import { successiveHalving } from '../tuner/search/successive-halving';
import { medianCiRanks, summarize } from '../tuner/stats';
import { rotationSets } from '../tuner/timing';
import { LLAMA_3_2_1B, attentionBucket, attentionOWorkload, attentionWorkload, attentionShapeAt, decodeAttentionDepth, ffnWorkload, matmulBucket, matmulWorkload, qkvFusion, workloadsFor } from '../tuner/workloads';
import { attentionOSeeds, attentionSplitSeeds, ffnSeeds, seedVariants, slowerFusions } from '../tuner/autotune';
import type { PackEntry } from '../tuner/pack/format';
import { quantize as runtimeQuantize } from '../runtime/gguf/quant';
import { GgmlType } from '../runtime/gguf/types';
import { QUANT_BLOCKS, kvCacheBytes } from '../generator/ops';
import { f16BitsToF32, f32ToF16Bits } from '../tuner/reference/f16';
import { dequantize } from '../tuner/reference/quant';
import { quantize } from '../tuner/reference/quantize';
import { mulberry32 } from '../tuner/search/index';
import { tuningDims } from '../bin/commands/autotune';
import { preset } from '../runtime/presets';
import { synthModel } from '../runtime/synth';

describe('stats', () => {
  test('median, MAD and order-statistic CI of known samples', () => {
    const s = summarize([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]);
    assert.equal(s.n, 10);
    assert.equal(s.medianNs, 5.5);
    assert.equal(s.madNs, 2.5);
    // n = 10: ranks 2 and 9 (coverage 1 - 2 * 11/1024 = 97.9%)
    assert.deepEqual([s.ciLowNs, s.ciHighNs], [2, 9]);
    assert.ok(Math.abs(s.relCiHalfWidth - 3.5 / 5.5) < 1e-12);
  });
  test('CI ranks match the binomial table', () => {
    assert.deepEqual(medianCiRanks(5), [1, 5]); // no 95% interval exists below n = 6
    assert.deepEqual(medianCiRanks(6), [1, 6]);
    assert.deepEqual(medianCiRanks(20), [6, 15]);
    assert.deepEqual(medianCiRanks(100), [40, 61]);
  });
  test('constant samples have zero width; bad input throws', () => {
    const s = summarize([7, 7, 7, 7, 7, 7, 7]);
    assert.equal(s.relCiHalfWidth, 0);
    assert.throws(() => summarize([]), RangeError);
    assert.throws(() => summarize([1, NaN]), RangeError);
  });
});

/** A fake clock advanced by the evaluate callback. */
function fakeBudget(ms: number, seed = 7) {
  let t = 0;
  return { budget: { ms, now: () => t, seed }, advance: (d: number) => (t += d), elapsed: () => t };
}

describe('search', () => {
  const space: Params[] = Array.from({ length: 120 }, (_, x) => ({ x }));
  const cost = (p: Params) => (p.x - 77) ** 2 + 100;

  test('exhaustive visits every candidate once at full effort', async () => {
    const seen: number[] = [];
    const r = await exhaustive.run(space, async (p, effort) => (seen.push(p.x), assert.equal(effort, 1), cost(p)), { ms: 1e9 });
    assert.equal(seen.length, space.length);
    assert.deepEqual(new Set(seen).size, space.length);
    assert.equal(r.best?.x, 77);
    assert.equal(r.outOfBudget, false);
  });

  test('exhaustive stops at the budget', async () => {
    const f = fakeBudget(50);
    const r = await exhaustive.run(space, async (p) => (f.advance(10), cost(p)), f.budget);
    assert.equal(r.evaluations.length, 5);
    assert.equal(r.outOfBudget, true);
  });

  test('successive halving finds the best of a noisy synthetic cost within budget', async () => {
    const f = fakeBudget(4000);
    let calls = 0;
    // low effort = noisy (deterministic pseudo-noise up to +-20% * (1 - effort)), full effort = exact; a call costs 10 ms * effort
    const noisy = (p: Params, effort: number) => cost(p) * (1 + 0.2 * (1 - effort) * Math.sin(p.x * 12.9898 + effort * 78.233));
    const r = await successiveHalving({ sample: 128 }).run(
      space,
      async (p, effort) => {
        calls++;
        f.advance(10 * effort);
        return p.x % 17 === 3 ? null : noisy(p, effort); // some invalid candidates
      },
      f.budget,
    );
    assert.equal(r.outOfBudget, false);
    assert.equal(r.best?.x, 77);
    assert.ok(f.elapsed() <= 4000, `used ${f.elapsed()} ms`);
    assert.ok(calls < 2 * space.length, `${calls} evaluations`);
    assert.ok(r.evaluations.some((e) => e.effort === 1 && e.params.x === 77));
  });

  test('successive halving out of budget returns the best of the highest effort reached', async () => {
    const f = fakeBudget(300);
    const r = await successiveHalving({ sample: 64 }).run(space, async (p, e) => (f.advance(10 * e * 8), cost(p)), f.budget);
    assert.equal(r.outOfBudget, true);
    assert.ok(r.best !== null);
  });

  test('strategy choice by pruned-space size', () => {
    assert.equal(pickStrategy(EXHAUSTIVE_MAX).name, 'exhaustive');
    assert.equal(pickStrategy(EXHAUSTIVE_MAX + 1).name, 'successive-halving');
  });
});

describe('anchor', () => {
  test('a drift discards and re-times the candidates since the last clean anchor', async () => {
    // fake device: a "heat" factor multiplies every time; it goes up during candidates 5..7 and
    // recovers in the cooldown the anchor requests after detecting the drift.
    let factor = 1;
    let measured = 0;
    const truth = (k: number) => 1000 + 10 * k;
    const anchor = new Anchor<number>(async () => 500 * factor, {
      every: 4,
      maxDriftPct: 5,
      cooldown: async () => {
        factor = 1;
      },
    });
    for (let k = 0; k < 10; k++) {
      await anchor.measure(`c${k}`, async () => {
        measured++;
        if (measured === 6) factor = 1.5; // the neighbour starts during candidate 5
        return truth(k) * factor;
      });
    }
    await anchor.finish();
    assert.equal(anchor.events.drifts, 1);
    assert.equal(anchor.events.retimed, 4); // candidates 4..7 (since the clean anchor after 3)
    for (let k = 0; k < 10; k++) assert.equal(anchor.results.get(`c${k}`), truth(k), `c${k}`);
    assert.equal(anchor.referenceNs, 500);
  });

  test('a permanent change re-bases the reference after maxRetries', async () => {
    let factor = 1;
    const anchor = new Anchor<number>(async () => 100 * factor, { every: 2, maxRetries: 1 });
    await anchor.measure('a', async () => 1);
    factor = 2;
    await anchor.measure('b', async () => 2);
    assert.equal(anchor.events.rebased, 1);
    assert.equal(anchor.referenceNs, 200);
  });
});

describe('journal', () => {
  const tmp = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-journal-')), 'out.kpack.journal');
  const header = { device: { vendorId: 1, deviceId: 2, driverName: 'x', driverVersion: 3 }, toolchain: { glslang: '15' }, config: 'abc' };
  const stats = (m: number) => summarize([m, m + 1, m + 2]);

  /** A mini tuning run: exhaustive over 10 candidates, journaled; `killAfter` throws mid-run. */
  async function run(file: string, killAfter = Infinity): Promise<number> {
    const j = new Journal(file, header);
    let timed = 0;
    await exhaustive.run(
      Array.from({ length: 10 }, (_, x) => ({ x })),
      async (p) => {
        const hit = j.getTiming('w', `v${p.x}`, 1);
        if (hit) return hit.medianNs;
        if (timed === killAfter) throw new Error('killed');
        timed++;
        j.append({ kind: 'time', workload: 'w', variant: `v${p.x}`, effort: 1, stats: stats(p.x) });
        return p.x;
      },
      { ms: 1e9 },
    );
    return timed;
  }

  test('resume after a kill skips completed work and tolerates a torn last line', async () => {
    const file = tmp();
    await assert.rejects(run(file, 4), /killed/);
    fs.appendFileSync(file, '{"kind":"time","workload":"w","vari'); // torn write
    assert.equal(await run(file), 6);
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 11); // header + 10 records, the torn line gone
    assert.equal(new Journal(file, header).resumed, 10);
    assert.equal(await run(file), 0);
  });

  test('a journal of another device or config is rejected with a clear message', async () => {
    const file = tmp();
    await run(file, 2).catch(() => {});
    assert.throws(() => new Journal(file, { ...header, device: { ...header.device, deviceId: 9 } }), (e: Error) => {
      assert.ok(e instanceof JournalMismatchError);
      assert.match(e.message, /device differs/);
      assert.match(e.message, /delete it/);
      return true;
    });
    assert.throws(() => new Journal(file, { ...header, config: 'other' }), /config differs/);
  });

  test('validation records round-trip; later records supersede', () => {
    const file = tmp();
    const j = new Journal(file, header);
    j.append({ kind: 'validate', workload: 'w', variant: 'v', ok: false, relError: 0.5, reason: 'wrong' });
    j.append({ kind: 'time', workload: 'w', variant: 'u', effort: 0.25, stats: stats(5) });
    j.append({ kind: 'time', workload: 'w', variant: 'u', effort: 0.25, stats: stats(9) });
    const k = new Journal(file, header);
    assert.equal(k.getValidation('w', 'v')?.ok, false);
    assert.equal(k.getTiming('w', 'u', 0.25)?.medianNs, 10);
    assert.equal(k.getTiming('w', 'u', 1), undefined);
  });

  test('a validation begun in an earlier run and never finished (GPU hang, crash) fails on resume', () => {
    const file = tmp();
    const j = new Journal(file, header);
    j.append({ kind: 'attempt', workload: 'w', variant: 'hangs' });
    j.append({ kind: 'attempt', workload: 'w', variant: 'fine' });
    j.append({ kind: 'validate', workload: 'w', variant: 'fine', ok: true, relError: 1e-7 });
    // this run's own attempt is still running, not unfinished
    assert.equal(j.getValidation('w', 'hangs'), undefined);
    const k = new Journal(file, header);
    assert.deepEqual(k.getValidation('w', 'hangs'), { kind: 'validate', workload: 'w', variant: 'hangs', ok: false, relError: null, reason: UNFINISHED_REASON });
    assert.equal(k.getValidation('w', 'fine')?.ok, true);
    assert.equal(k.getValidation('w', 'never'), undefined);
  });
});

describe('workloads', () => {
  test('the output head is tuned in its own type (Q6_K in a Q4_0 model, as llama-quantize writes it)', () => {
    const ws = workloadsFor({ ...LLAMA_3_2_1B, weightType: 'q4_0', outputType: 'q6_k' }, { batches: [1], depths: [0] }).filter((w) => w.op === 'matmul');
    assert.deepEqual(ws.map((w) => w.id), [
      'matmul/q4_0/M=3072,K=2048,N=1',
      'matmul/q4_0/M=2048,K=2048,N=1',
      'matmul/q4_0/M=16384,K=2048,N=1',
      'matmul/q4_0/M=2048,K=8192,N=1',
      'matmul/q6_k/M=128256,K=2048,N=1',
    ]);
    assert.equal(workloadsFor({ ...LLAMA_3_2_1B, weightType: 'q4_0' }, { batches: [1], depths: [0] }).filter((w) => w.id.includes('M=128256'))[0].instanceKey, 'q4_0');
  });
  test('llama-3.2-1b: distinct matmul shapes, attention points, buckets', () => {
    const ws = workloadsFor(LLAMA_3_2_1B, { batches: [1, 16], depths: [0, 2048] });
    const mm = ws.filter((w) => w.op === 'matmul');
    const shapes = [...new Set(mm.map((w) => `${w.shape.M}x${w.shape.K}`))];
    // Q|K|V and gate|up are stacked into one matrix each (runtime/model/weights.ts).
    assert.deepEqual(shapes, ['3072x2048', '2048x2048', '16384x2048', '2048x8192', '128256x2048']);
    assert.equal(mm.length, 10);
    assert.ok(mm[0].label.startsWith('qkv '));
    assert.ok(mm.find((w) => w.label.startsWith('gate_up ')));
    assert.ok(mm.every((w) => w.instanceKey === 'f16'));
    const q1 = mm.find((w) => w.shape.M === 2048 && w.shape.K === 2048 && w.shape.N === 1)!;
    assert.equal(q1.flops, 2 * 2048 * 2048);
    assert.equal(q1.minBytes, 2048 * 2048 * 2 + 2048 * 4 + 2048 * 4);
    assert.equal(q1.bucket, 'matmul/f16/M=2048,K=2048/N=1');
    const at = ws.filter((w) => w.op === 'attention');
    // 2 batches x 2 depths, plus the decode batch at the top of each depth bucket (1023 and 8191); decode depths at
    // the end of their replay window (0 -> 255, 2048 -> 2303), prompt batches where asked
    assert.equal(at.length, 6);
    assert.deepEqual(
      at.filter((w) => w.shape.queries === 1).map((w) => [w.shape.queryPos0, w.shape.kvLength]),
      [[255, 256], [1023, 1024], [2303, 2304], [8191, 8192]],
    );
    assert.deepEqual(at.filter((w) => w.shape.queries === 16).map((w) => w.shape.queryPos0), [0, 2048]);
    assert.deepEqual([decodeAttentionDepth(0, 1), decodeAttentionDepth(255, 1), decodeAttentionDepth(256, 1), decodeAttentionDepth(4096, 4)], [255, 255, 511, 4348]);
    // a batch whose window ends past its depth bucket stays in the bucket (8 queries at 1023: window end 1280)
    const b8 = workloadsFor(LLAMA_3_2_1B, { batches: [8], depths: [0] }).filter((w) => w.op === 'attention');
    assert.deepEqual(b8.map((w) => w.shape.queryPos0), [248, 1023]);
    assert.ok(b8.every((w) => w.bucket.endsWith('queries=2-8,depth=0-1023')), b8.map((w) => w.bucket).join(' '));
    const a = at.find((w) => w.shape.queries === 16 && w.shape.queryPos0 === 2048)!;
    assert.equal(a.op, 'attention');
    if (a.op !== 'attention') return;
    assert.deepEqual(
      { ...a.shape, scale: 0 },
      { D: 64, heads: 32, kvHeads: 8, queries: 16, kvLength: 2064, kvStride: 2304, queryPos0: 2048, causal: true, scale: 0 },
    );
    assert.equal(a.shape.scale, 1 / 8);
    assert.equal(a.bucket, 'attention/f16/D=64,heads=32,kvHeads=8/queries=9-64,depth=1024-8191');
    // causal pairs: sum over i of (2048 + i + 1)
    assert.equal(a.flops, 4 * 64 * 32 * (16 * 2049 + 120));
  });
  test('the decode QKV products carry the rope epilogue the runtime fuses; other products and batches do not', () => {
    const dims = { ...LLAMA_3_2_1B, rope: { base: 500000, mode: 'adjacent' as const } };
    const ws = workloadsFor(dims, { batches: [1, 8, 16], depths: [0] }).filter((w) => w.op === 'matmul');
    const fused = ws.filter((w) => w.op === 'matmul' && w.fuses);
    assert.deepEqual(fused.map((w) => w.id), ['matmul/f16/M=3072,K=2048,N=1', 'matmul/f16/M=3072,K=2048,N=8']);
    const r = fused[0].op === 'matmul' ? fused[0].fuses!.rope! : null;
    assert.deepEqual([r!.qRows, r!.kvRows, r!.D, r!.base, r!.dynamicPos], [2048, 512, 64, 500000, true]);
    assert.equal(qkvFusion({ ...dims, rope: { base: 1e4, mode: 'neox' } }, 1), undefined);
    assert.equal(qkvFusion(LLAMA_3_2_1B, 1), undefined);
    // quantized caches: fused where the head dim is whole 64-value groups (matmul.vecq contract 3), else rope_kv runs
    assert.equal(qkvFusion({ ...dims, kvType: 'q8_0' }, 1)?.rope?.kvType, 'q8_0');
    assert.equal(qkvFusion({ ...dims, kvType: 'q4_0', headDim: 96 }, 1), undefined);
  });

  test('a q8_0 K/V cache: attention and attention_o workloads of the q8_0 instances, bytes of its layout', () => {
    const dims = { ...LLAMA_3_2_1B, weightType: 'q4_0' as const, kvType: 'q8_0' as const };
    const ws = workloadsFor(dims, { batches: [1, 512], depths: [0] });
    const at = ws.filter((w) => w.op === 'attention');
    assert.ok(at.length > 0 && at.every((w) => w.instanceKey === 'q8_0' && w.bucket.startsWith('attention/q8_0/')), at.map((w) => w.bucket).join(' '));
    assert.ok(ws.some((w) => w.op === 'attention_o' && w.instanceKey === 'q4_0.q8_0'));
    // K and V rows read: D int8 + 2 * ceil(D/64) f16 scales per row (generator/ops.ts kvCacheBytes)
    const s = attentionShapeAt(dims, 1, 1023);
    assert.equal(attentionWorkload('q8_0', s).minBytes, 2 * 4 * 32 * 64 + 2 * 8 * 1024 * (64 + 4));
    assert.equal(kvCacheBytes('q8_0', 10, 96), 10 * (96 + 8));
    assert.throws(() => kvCacheBytes('q8_0', 10, 80), /multiple of 32, got D = 80/);
  });

  test('the fused feed-forward is a workload at decode batches of the types ffn.vecq implements', () => {
    const ffn = (weightType: 'f16' | 'q4_0' | 'q4_k', batches: number[]) =>
      workloadsFor({ ...LLAMA_3_2_1B, weightType }, { batches, depths: [0] }).filter((w) => w.op === 'ffn');
    assert.deepEqual(ffn('q4_0', [1, 4, 16, 512]).map((w) => w.id), ['ffn/q4_0/dim=2048,hidden=8192,N=1', 'ffn/q4_0/dim=2048,hidden=8192,N=4']);
    assert.equal(ffn('q4_k', [1]).length, 1);
    assert.equal(ffn('f16', [1]).length, 0);
    const w = ffnWorkload('q4_k.q6_k', { N: 2, dim: 2048, hidden: 8192, eps: 1e-5 });
    assert.equal(w.flops, 6 * 2 * 8192 * 2048);
    // gate|up in q4_k (144 bytes per 256 values), down in q6_k (210), X, Y, Z f32
    assert.equal(w.minBytes, (2 * 8192 * 2048 / 256) * 144 + (8192 * 2048 / 256) * 210 + 3 * 4 * 2 * 2048);
    assert.equal(w.bucket, 'ffn/q4_k.q6_k/dim=2048,hidden=8192/N=2-8');
  });

  test('slowerFusions drops an ffn entry the tuned gate|up + down GEMVs beat and keeps one that beats them', () => {
    const stat = (point: Record<string, number>, medianNs: number) => ({ point, medianNs, madNs: 0, ciLowNs: 0, ciHighNs: 0, n: 1, defaultMedianNs: medianNs, speedup: 1 });
    const entry = (op: string, bucket: string, stats: PackEntry['stats']): PackEntry =>
      ({ op, bucket, match: { instance: 'q4_0', shape: null, range: {} }, family: op === 'ffn' ? 'ffn.vecq' : 'matmul.vecq', instance: 'q4_0', params: {}, spirv: '', stats });
    const gemvs = [
      entry('matmul', 'gu', [stat({ M: 16384, K: 2048, N: 1 }, 16e3), stat({ M: 16384, K: 2048, N: 4 }, 30e3)]),
      entry('matmul', 'down', [stat({ M: 2048, K: 8192, N: 1 }, 14e3), stat({ M: 2048, K: 8192, N: 4 }, 25e3)]),
    ];
    const fast = entry('ffn', 'ffn1', [stat({ N: 1, dim: 2048, hidden: 8192 }, 25e3)]);
    const slow = entry('ffn', 'ffn4', [stat({ N: 4, dim: 2048, hidden: 8192 }, 60e3)]);
    const lonely = entry('ffn', 'ffn8', [stat({ N: 8, dim: 2048, hidden: 8192 }, 90e3)]);
    const logs: string[] = [];
    assert.deepEqual(slowerFusions([...gemvs, fast, slow, lonely], (m) => logs.push(m)), [slow]);
    assert.ok(logs.some((l) => /ffn4: ffn.vecq 60.00 us >= gate\|up 30.00 \+ down 25.00 us at N = 4: dropped/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /ffn8: no tuned gate\|up and down GEMVs at N = 8/.test(l)), logs.join('\n'));
  });

  test('attention + O projection (attention_o) is a workload at decode batches and depths of the Wo types attention_o.vec implements', () => {
    const ao = (weightType: 'f16' | 'q4_0' | 'q4_k', batches: number[]) =>
      workloadsFor({ ...LLAMA_3_2_1B, weightType }, { batches, depths: [0, 4096] }).filter((w) => w.op === 'attention_o');
    assert.deepEqual(ao('q4_0', [1, 16]).map((w) => w.id), [
      'attention_o/q4_0.f16/D=64,H=32,KVH=8,dim=2048,Q=1,depth=255',
      'attention_o/q4_0.f16/D=64,H=32,KVH=8,dim=2048,Q=1,depth=1023',
      'attention_o/q4_0.f16/D=64,H=32,KVH=8,dim=2048,Q=1,depth=4351',
      'attention_o/q4_0.f16/D=64,H=32,KVH=8,dim=2048,Q=1,depth=8191',
    ]);
    assert.equal(ao('f16', [2]).length, 4);
    assert.equal(ao('q4_k', [1]).length, 0);
    const w = attentionOWorkload('q4_0.f16', { ...attentionShapeAt(LLAMA_3_2_1B, 1, 4096), dim: 2048 });
    assert.equal(w.flops, 4 * 64 * 32 * 4097 + 2 * 2048 * 2048);
    // Q f32, K and V rows f16, Wo q4_0 (18 bytes per 32 values), X read and written
    assert.equal(w.minBytes, 4 * 32 * 64 + 2 * 8 * 4097 * 64 * 2 + (2048 * 2048 / 32) * 18 + 2 * 4 * 2048);
    assert.match(w.bucket, /^attention_o\/q4_0\.f16\/.*dim=2048.*\/queries=1,depth=1024-8191$/);
  });

  test('slowerFusions drops an attention_o entry that the tuned attention + O GEMV beat', () => {
    const stat = (point: Record<string, number | boolean>, medianNs: number) => ({ point, medianNs, madNs: 0, ciLowNs: 0, ciHighNs: 0, n: 1, defaultMedianNs: medianNs, speedup: 1 });
    const entry = (op: string, bucket: string, family: string, stats: PackEntry['stats']): PackEntry =>
      ({ op, bucket, match: { instance: 'q4_0', shape: null, range: {} }, family, instance: 'q4_0', params: {}, spirv: '', stats });
    const at = (depth: number) => ({ D: 64, heads: 32, kvHeads: 8, queries: 1, kvLength: depth + 1, kvStride: 256, queryPos0: depth, causal: true });
    const att = entry('attention', 'att', 'attention.vec', [stat(at(0), 9e3), stat(at(1023), 20e3)]);
    const o = entry('matmul', 'o', 'matmul.vecq', [stat({ M: 2048, K: 2048, N: 1 }, 11e3)]);
    const fast = entry('attention_o', 'ao0', 'attention_o.vec', [stat({ ...at(0), dim: 2048 }, 12e3)]);
    const slow = entry('attention_o', 'ao1', 'attention_o.vec', [stat({ ...at(1023), dim: 2048 }, 31e3)]);
    const logs: string[] = [];
    assert.deepEqual(slowerFusions([att, o, fast, slow], (m) => logs.push(m)), [slow]);
    assert.ok(logs.some((l) => /ao1: attention_o.vec 31.00 us >= attention 20.00 \+ O 11.00 us at queries = 1, depth = 1023: dropped/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /ao0: .* kept/.test(l)), logs.join('\n'));
  });

  test('attention_o seeds: the tuned attention.vec winner of the bucket with MERGE 1, crossed with OSPLIT and OTPR', () => {
    const w = attentionOWorkload('q4_0.f16', { ...attentionShapeAt(LLAMA_3_2_1B, 1, 4096), dim: 2048 });
    const att: PackEntry = {
      op: 'attention', bucket: 'a', family: 'attention.vec', instance: 'f16', spirv: '', stats: [],
      match: { instance: 'f16', shape: { D: 64, heads: 32, kvHeads: 8 }, range: { queries: [1, 1], depth: [1024, 8191] } },
      params: { WG: 128, TPR: 4, ROWS: 2, KV_CHUNK: 64, GQA_PACK: 1, SG_REDUCE: 1, KVU: 2, MERGE: 0 },
    };
    const seeds = attentionOSeeds([att], w);
    assert.equal(seeds.length, 8);
    assert.ok(seeds.every((e) => e.op === 'attention_o' && e.family === 'attention_o.vec' && e.params.WG === 128 && e.params.KV_CHUNK === 64 && e.params.MERGE === 1));
    assert.deepEqual([...new Set(seeds.map((e) => e.params.OSPLIT))], [1, 2, 4, 8]);
    assert.equal(attentionOSeeds([{ ...att, match: { ...att.match, range: { queries: [1, 1], depth: [0, 1023] } } }], w).length, 0);
  });

  test('decode attention seeds: KV_CHUNK sized to 1, 2 and 4 workgroups per multiprocessor at the workload\'s KV length, MERGE 0 and 1', () => {
    const w = attentionWorkload('f16', attentionShapeAt(LLAMA_3_2_1B, 1, 4351));
    const base = { op: 'attention' as const, family: 'attention.vec', instance: 'f16', params: { WG: 256, TPR: 8, ROWS: 1, KV_CHUNK: 1024, GQA_PACK: 1, SG_REDUCE: 1, KVU: 4, MERGE: 0 } };
    const seeds = attentionSplitSeeds(w, [base], 132);
    assert.equal(seeds.length, 6);
    assert.ok(seeds.every((e) => e.op === 'attention' && e.family === 'attention.vec' && e.params.WG === 256 && e.params.KVU === 4));
    assert.deepEqual(seeds.map((e) => e.params.MERGE), [0, 1, 0, 1, 0, 1]);
    // GQA_PACK 1 (4 query heads a workgroup), ROWS 1: 4 row groups x 8 head groups x ceil(4352 / KV_CHUNK) splits,
    // so 160, 288 and 544 workgroups at KV_CHUNK 1024, 512 and 256 for targets 132, 264 and 528
    assert.deepEqual(seeds.map((e) => e.params.KV_CHUNK), [1024, 1024, 512, 512, 256, 256]);
    const groups = (c: number) => 4 * 8 * Math.ceil(4352 / c);
    const chunks = [32, 64, 128, 256, 512, 1024, 4096];
    for (const [i, perSm] of [1, 2, 4].entries()) {
      const nearest = chunks.reduce((a, b) => (Math.abs(Math.log(groups(b) / (perSm * 132))) < Math.abs(Math.log(groups(a) / (perSm * 132))) ? b : a));
      assert.equal(seeds[2 * i].params.KV_CHUNK, nearest, `${perSm} per multiprocessor`);
    }
    assert.equal(attentionSplitSeeds(w, [base], 0).length, 0, 'no multiprocessor count');
    assert.equal(attentionSplitSeeds(attentionWorkload('f16', attentionShapeAt(LLAMA_3_2_1B, 512, 0)), [base], 132).length, 0, 'prefill');
    assert.equal(attentionSplitSeeds(w, [], 132).length, 6, 'the family defaults as the base');
  });

  test('ffn seeds: two high-occupancy points, then the loop parameters of the tuned gate|up GEMV winner, clamped to the values of ffn.vecq', () => {
    const w = ffnWorkload('q4_0', { N: 1, dim: 2048, hidden: 8192, eps: 1e-5 });
    const stat = { point: { M: 16384, K: 2048, N: 1 }, medianNs: 1, madNs: 0, ciLowNs: 0, ciHighNs: 0, n: 1, defaultMedianNs: 1, speedup: 1 };
    const gemv: PackEntry = { op: 'matmul', bucket: 'gu', match: { instance: 'q4_0', shape: null, range: {} }, family: 'matmul.vecq', instance: 'q4_0', params: { WG: 64, RPT: 4, KSPLIT: 64, UNROLL: 2, BQ: 0 }, spirv: '', stats: [stat] };
    const occupancy = ffnSeeds([], w);
    assert.deepEqual(occupancy.map((e) => [e.params.WG, e.params.HB, e.params.RPT, e.params.UNROLL, e.params.DU, e.params.PREFETCH]), [[512, 1, 1, 2, 1, 1], [512, 1, 1, 2, 2, 1]]);
    const all = ffnSeeds([gemv], w);
    assert.deepEqual(all.slice(0, 2), occupancy);
    const seeds = all.slice(2);
    assert.equal(seeds.length, 12);
    assert.ok(all.every((e) => e.op === 'ffn' && e.family === 'ffn.vecq' && e.instance === 'q4_0'));
    assert.ok(seeds.every((e) => e.params.WG === 128 && e.params.RPT === 4 && e.params.KSPLIT === 32 && e.params.UNROLL === 2), JSON.stringify(seeds[0]));
    assert.deepEqual([...new Set(seeds.map((e) => e.params.HB))], [1, 2, 4]);
    // another batch's GEMV does not seed
    assert.deepEqual(ffnSeeds([{ ...gemv, stats: [{ ...stat, point: { M: 16384, K: 2048, N: 4 } }] }], w), occupancy);
  });

  test('seedVariants: a seed from an older pack is also timed with every value of the tunables it lacks', () => {
    const fam = { defaults: { A: 1, B: 0, C: 0, P: 0 }, params: [
      { name: 'A', values: [1, 2], specId: 0, doc: '' },
      { name: 'B', values: [0, 1], specId: 1, doc: '' },
      { name: 'C', values: [0, 1, 2], specId: 2, doc: '' },
      { name: 'P', values: [0], specId: 3, doc: 'set by plan(): not expanded' },
    ] };
    assert.deepEqual(seedVariants(fam, { A: 2, B: 1, C: 2 }), [{ A: 2, B: 1, C: 2, P: 0 }]);
    assert.deepEqual(seedVariants(fam, { A: 2, C: 1 }), [{ A: 2, B: 0, C: 1, P: 0 }, { A: 2, B: 1, C: 1, P: 0 }]);
    // in parameter order: A x B = 4 variants; C would make 12 > 8, so it keeps its default
    assert.deepEqual(seedVariants(fam, {}).length, 4);
    assert.ok(seedVariants(fam, {}).every((p) => p.C === 0));
  });

  test('bucket ranges', () => {
    const b = (N: number) => matmulBucket('f32', { M: 8, K: 8, N });
    assert.deepEqual([1, 2, 8, 9, 64, 65, 4096].map(b).map((s) => s.split('/').pop()), ['N=1', 'N=2-8', 'N=2-8', 'N=9-64', 'N=9-64', 'N=65+', 'N=65+']);
    const s = { D: 64, heads: 4, kvHeads: 2, queries: 1, kvLength: 40000, kvStride: 40192, queryPos0: 39999, causal: true, scale: 0.125 };
    assert.match(attentionBucket('f32', s), /depth=32768\+$/);
    assert.throws(() => workloadsFor(LLAMA_3_2_1B, { batches: [0], depths: [0] }), RangeError);
  });
});

describe('timing policy, roofline, report', () => {
  test('rotation sets', () => {
    assert.equal(rotationSets(64 * 2 ** 20), 1);
    assert.equal(rotationSets(32 * 2 ** 20), 4);
    assert.equal(rotationSets(1 << 20), 8);
  });
  test('roofline percent and report text', () => {
    const [w] = workloadsFor(LLAMA_3_2_1B, { batches: [1], depths: [0] });
    const roof: Roofline = { bandwidthBytesPerS: 1e12, peak: null };
    const ideal = (w.minBytes / 1e12) * 1e9;
    assert.ok(Math.abs(rooflinePct(roof, w, 2 * ideal) - 50) < 1e-9);
    const row = { op: 'matmul', label: w.label, bucket: w.bucket, winner: 'matmul.vec/f16/WG=64', medianNs: 2 * ideal, defaultNs: 3 * ideal, speedup: 1.5, tflops: 0.5, gbps: 500, rooflinePct: 50, bound: 'memory' as const };
    const text = formatReport([row]);
    assert.match(text, /== matmul ==/);
    assert.match(text, /1\.50x/);
    assert.match(text, /50\.0% M/);
    assert.equal(JSON.parse(reportJson([row])).rows[0].winner, row.winner);
  });
});

describe('tuner quantizer (tuner/reference/quantize.ts)', () => {
  const random = (n: number, seed: number) => {
    const rng = mulberry32(seed);
    return Float32Array.from({ length: n }, () => rng() * 2 - 1);
  };
  for (const type of ['q8_0', 'q4_0'] as const) {
    test(`${type}: round trip through reference/quant.ts is within half a step (a full step at Q4_0's +8 clamp)`, () => {
      const x = random(32 * 40, 7);
      x.fill(0, 64, 96); // an all-zero block
      const bytes = quantize(type, x);
      assert.equal(bytes.length, 40 * QUANT_BLOCKS[type].bytes);
      const y = dequantize(type, bytes, x.length);
      for (let b = 0; b < 40; b++) {
        const d = Math.abs(f16BitsToF32(bytes[b * QUANT_BLOCKS[type].bytes] | (bytes[b * QUANT_BLOCKS[type].bytes + 1] << 8)));
        // half a step, plus |q| * (f16 rounding of d) <= 127 * d * 2^-11 for Q8_0; Q4_0 clamps x/d = +8 to 7 (one step)
        const bound = type === 'q8_0' ? d * (0.5 + 127 * 2 ** -11) : d * (1 + 8 * 2 ** -11);
        for (let i = b * 32; i < b * 32 + 32; i++) assert.ok(Math.abs(y[i] - x[i]) <= bound + 1e-12, `${type} block ${b} elem ${i}: ${x[i]} -> ${y[i]} (d ${d})`);
      }
      for (let i = 64; i < 96; i++) assert.ok(y[i] === 0, `zero block elem ${i}: ${y[i]}`); // Q4_0 stores d = -0 (0 / -8), as ggml
      // the block of largest magnitude is represented near-exactly (Q8_0: q = +-127, Q4_0: q = -8)
      let err = 0;
      for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(y[i] - x[i]));
      assert.ok(err < (type === 'q8_0' ? 1 / 127 : 1 / 8) * 1.01, `max error ${err}`);
    });
    test(`${type}: bytes equal the runtime's ggml port (runtime/gguf/quant)`, () => {
      const x = random(32 * 64, 11);
      assert.deepEqual(quantize(type, x), runtimeQuantize(type === 'q8_0' ? GgmlType.Q8_0 : GgmlType.Q4_0, x));
    });
  }
  test('layout of one known block', () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 16); // -1 .. 15/16
    const q8 = quantize('q8_0', x);
    assert.equal(q8[0] | (q8[1] << 8), f32ToF16Bits(1 / 127)); // d = max|x| / 127 as f16
    assert.equal((q8[2] << 24) >> 24, -127); // x[0] = -1
    assert.equal(q8[2 + 16], 0); // x[16] = 0
    const q4 = quantize('q4_0', x);
    assert.equal(f16BitsToF32(q4[0] | (q4[1] << 8)), 0.125); // d = -1 / -8
    assert.equal(q4[2] & 0xf, 0); // x[0] = -1 -> -8 + 8
    assert.equal(q4[2] >> 4, 8); // x[16] = 0 -> 8 (high nibble of byte 0)
    assert.equal(q4[2 + 15] >> 4, 15); // x[31] = 15/16 -> round(7.5) + 8 = 16, clamped to 15
    assert.throws(() => quantize('q8_0', new Float32Array(31)), /multiple of 32/);
    assert.throws(() => quantize('q4_0', Float32Array.of(...new Array(31).fill(0), NaN)), /NaN/);
  });
  test('quantized matmul workloads count whole blocks', () => {
    const w = matmulWorkload('q8_0', { M: 64, K: 128, N: 1 });
    assert.equal(w.minBytes, 64 * 4 * 34 + 128 * 4 + 64 * 4);
    assert.equal(matmulWorkload('q4_0', { M: 64, K: 128, N: 1 }).minBytes, 64 * 4 * 18 + 128 * 4 + 64 * 4);
    assert.equal(w.bucket, 'matmul/q8_0/M=64,K=128/N=1');
    assert.throws(() => matmulWorkload('q4_0', { M: 64, K: 100, N: 1 }), /K % 32/);
    assert.equal(workloadsFor({ ...LLAMA_3_2_1B, weightType: 'q4_0' }, { batches: [1], depths: [0] })[0].instanceKey, 'q4_0');
  });
});

describe('tuningDims of quantized GGUF models', () => {
  test('q8_0 / q4_0 models tune their attention/FFN type; other types are refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-dims-'));
    try {
      for (const type of ['q8_0', 'q4_0', 'q4_k'] as const) {
        const file = path.join(dir, `tiny-${type}.gguf`);
        synthModel(preset('test-tiny'), type, file, { seed: 3 });
        const req = { model: file, weightType: 'f16' as const, kvType: 'f16' as const };
        if (type === 'q4_k') assert.throws(() => tuningDims(req), /blk\.0\.attn_q\.weight is q5_0; this kpack tunes f32, f16, q8_0, q4_0, q4_k, q6_k weights/); // tiny dims: the K-quant synth stores attn_q as q5_0
        else {
          const d = tuningDims(req);
          assert.equal(d.weightType, type);
          assert.equal(d.dim, 64);
        }
      }
      assert.equal(tuningDims({ preset: 'test-tiny', weightType: 'q4_0', kvType: 'f16' }).weightType, 'q4_0');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Q4_K_M model is tuned per distinct layer types, the same as the q4_k_m preset mix', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-dims-'));
    try {
      const file = path.join(dir, 'k-q4_k_m.gguf');
      synthModel(preset('test-k'), 'q4_k_m', file, { seed: 5 });
      const fromModel = tuningDims({ model: file, weightType: 'f16', kvType: 'f16' });
      const fromPreset = tuningDims({ preset: 'test-k', weightType: 'q4_k_m', kvType: 'f16' });
      assert.equal(fromModel.weightType, 'q4_k');
      assert.deepEqual(fromModel.layerTypes, fromPreset.layerTypes);
      assert.equal(fromModel.outputType, fromPreset.outputType);
      const kinds = new Set(fromModel.layerTypes!.map((t) => `${t.v}/${t.down}`));
      assert.ok(kinds.has('q6_k/q6_k') && kinds.has('q4_k/q4_k'), [...kinds].join(' '));
      const labels = workloadsFor(fromModel, { batches: [1], depths: [0] }).map((w) => `${w.op} ${w.instanceKey} ${'M' in w.shape ? `${w.shape.M}x${w.shape.K}` : ''}`);
      const { heads, kvHeads, headDim, dim } = preset('test-k');
      // Q4_K_M layers with a Q6_K attn_v: q, k and v are separate products; the others stack them
      assert.ok(labels.includes(`matmul q6_k ${kvHeads * headDim}x${dim}`), labels.join('\n'));
      assert.ok(labels.includes(`matmul q4_k ${(heads + 2 * kvHeads) * headDim}x${dim}`), labels.join('\n'));
      assert.ok(labels.includes('ffn q4_k.q6_k ') && labels.includes('ffn q4_k '), labels.join('\n'));
      // a uniform preset has no layerTypes
      assert.equal(tuningDims({ preset: 'test-k', weightType: 'q4_k', kvType: 'f16' }).layerTypes, undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
