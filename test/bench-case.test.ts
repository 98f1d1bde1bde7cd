/**
 * runtime/bench.ts benchCase on stand-in graphs: the warm-up runs before the timed repetitions (one run,
 * then more until warmupMs have passed), the ABBA order, one result per graph.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { benchCase } from '../runtime/bench';
import type { LlamaGraph } from '../runtime/model/llama';

/** A graph that records its calls and busy-waits `ms` per call. */
function fakeGraph(name: string, log: string[], ms: number, starts: number[] = []): LlamaGraph {
  const busy = () => {
    const t0 = performance.now();
    while (performance.now() - t0 < ms);
  };
  return {
    options: { maxBatch: 64, contextLength: 256 },
    cfg: { vocab: 100 },
    forward: () => (log.push(`${name}:pp`), starts.push(performance.now()), busy(), 0),
    greedy: () => (log.push(`${name}:tg`), starts.push(performance.now()), busy(), new Uint32Array(0)),
  } as unknown as LlamaGraph;
}

describe('benchCase', () => {
  test('one warm-up run per graph, then the timed repetitions in ABBA order', () => {
    const log: string[] = [];
    const r = benchCase([fakeGraph('A', log, 1), fakeGraph('B', log, 1)], { kind: 'tg', tokens: 4, depth: 0 }, 3);
    assert.deepEqual(log, ['A:tg', 'B:tg', 'A:tg', 'B:tg', 'B:tg', 'A:tg', 'A:tg', 'B:tg']);
    assert.equal(r.length, 2);
    assert.equal(r[0].runsMs.length, 3);
    assert.ok(r.every((x) => x.tokensPerSecond > 0 && x.test === 'tg4'));
  });

  test('warmupMs adds untimed runs until that much wall-clock time has passed', () => {
    const log: string[] = [];
    const starts: number[] = [];
    const r = benchCase(fakeGraph('A', log, 2, starts), { kind: 'pp', tokens: 8, depth: 0 }, 2, 1, 30);
    // the pipeline warm-up run, more warm-up runs, then the 2 timed ones, which start >= 30 ms after the
    // first run began (each run takes >= 2 ms, so at most 30 / 2 + 1 warm-up runs)
    assert.ok(log.length >= 1 + 1 + 2 && log.length <= 1 + 16 + 2, `${log.length} runs`);
    assert.ok(starts.at(-2)! - starts[0] >= 30, `timed runs began ${(starts.at(-2)! - starts[0]).toFixed(1)} ms after the warm-up`);
    assert.equal(r[0].runsMs.length, 2);
  });
});
