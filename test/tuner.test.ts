/** Tuner core without a GPU: stats, search strategies, anchor drift, journal resume, workloads. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { Params } from '../generator/schema';
import { Anchor } from '../tuner/anchor';
import { Journal, JournalMismatchError } from '../tuner/journal';
import { formatReport, reportJson } from '../tuner/report';
import { type Roofline, rooflinePct } from '../tuner/roofline';
import { exhaustive } from '../tuner/search/exhaustive';
import { EXHAUSTIVE_MAX, pickStrategy } from '../tuner/search/index';
import { successiveHalving } from '../tuner/search/successive-halving';
import { medianCiRanks, summarize } from '../tuner/stats';
import { rotationSets } from '../tuner/timing';
import { LLAMA_3_2_1B, attentionBucket, matmulBucket, workloadsFor } from '../tuner/workloads';

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
});

describe('workloads', () => {
  test('llama-3.2-1b: distinct matmul shapes, attention points, buckets', () => {
    const ws = workloadsFor(LLAMA_3_2_1B, { batches: [1, 16], depths: [0, 2048] });
    const mm = ws.filter((w) => w.op === 'matmul');
    const shapes = [...new Set(mm.map((w) => `${w.shape.M}x${w.shape.K}`))];
    assert.deepEqual(shapes, ['2048x2048', '512x2048', '8192x2048', '2048x8192', '128256x2048']);
    assert.equal(mm.length, 10);
    assert.ok(mm[0].label.startsWith('q,o '));
    assert.ok(mm.find((w) => w.label.startsWith('gate,up ')));
    assert.ok(mm.every((w) => w.instanceKey === 'f16'));
    const q1 = mm.find((w) => w.shape.M === 2048 && w.shape.K === 2048 && w.shape.N === 1)!;
    assert.equal(q1.flops, 2 * 2048 * 2048);
    assert.equal(q1.minBytes, 2048 * 2048 * 2 + 2048 * 4 + 2048 * 4);
    assert.equal(q1.bucket, 'matmul/f16/M=2048,K=2048/N=1');
    const at = ws.filter((w) => w.op === 'attention');
    // 2 batches x 2 depths, plus the decode batch at the top of each depth bucket (1023 and 8191)
    assert.equal(at.length, 6);
    assert.deepEqual(
      at.filter((w) => w.shape.queries === 1).map((w) => w.shape.queryPos0),
      [0, 1023, 2048, 8191],
    );
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
