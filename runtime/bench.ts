/**
 * llama-bench-style throughput: ppN (prompt processing of N tokens in one batch) and tgN (N
 * sequential one-token greedy decode steps, each fed the previous step's argmax on the GPU:
 * LlamaGraph.greedy), each at a KV depth d (the cache first filled with d tokens, untimed), repeated
 * r times. Throughput t/s = tokens / wall-clock seconds of the timed part, as
 * llama-bench reports it (host overhead included).
 */
import { mean, sampleStandardDeviation } from 'simple-statistics';
import type { LlamaGraph } from './model/llama';
import { seededRandom } from './sampling';

export interface BenchCase {
  kind: 'pp' | 'tg';
  tokens: number;
  depth: number;
}

export interface BenchResult extends BenchCase {
  /** "pp512", "tg128 @ d4096" as llama-bench names tests. */
  test: string;
  tokensPerSecond: number;
  stddev: number;
  runsMs: number[];
}

/** llama-bench's test name for a case. */
export function testName(c: BenchCase): string {
  return `${c.kind}${c.tokens}` + (c.depth > 0 ? ` @ d${c.depth}` : '');
}

/** Warm-up of `kpack bench` per case on GPUs, ms of wall-clock time (benchCase warmupMs). */
export const BENCH_WARMUP_MS = 1500;

/** Fill the KV cache with `depth` random tokens in maxBatch chunks (untimed). */
function fillDepth(graph: LlamaGraph, depth: number, random: () => number): void {
  const B = graph.options.maxBatch;
  for (let pos = 0; pos < depth; pos += B) {
    const n = Math.min(B, depth - pos);
    graph.forward(randomTokens(n, graph.cfg.vocab, random), pos, 'none');
  }
}

function randomTokens(n: number, vocab: number, random: () => number): number[] {
  return Array.from({ length: n }, () => Math.floor(random() * vocab));
}

/**
 * Time one case on one or more graphs (the same model with different kernels), `repetitions` times
 * each after one warm-up run per graph (pipelines are created on first use) and then more warm-up runs,
 * interleaved, until `warmupMs` of wall-clock time have passed: a GPU that idled (model load, the host
 * work between cases) runs at a low clock for a while (an H200's SM clock idles at 345 MHz and took
 * ~1.3 s of load to reach 1980 MHz: docs/runs/2026-12-03c/4-smi.csv, 4-clock-ramp.txt; pp512 as the first
 * case read 9.3k t/s for 10.7 ms of GPU work per batch at full clock). With several graphs the runs
 * interleave, in alternating order (ABBA...), so clock and thermal drift hit all alike.
 * @returns one result per graph, in the order given.
 * @throws RangeError when depth + tokens exceeds a graph's context length or a pp batch exceeds maxBatch.
 */
export function benchCase(graphs: LlamaGraph | LlamaGraph[], c: BenchCase, repetitions: number, seed = 1, warmupMs = 0): BenchResult[] {
  const list = Array.isArray(graphs) ? graphs : [graphs];
  const randoms = list.map(() => seededRandom(seed));
  for (const graph of list) {
    if (c.depth + c.tokens > graph.options.contextLength) {
      throw new RangeError(`${testName(c)} needs ${c.depth + c.tokens} positions; the context holds ${graph.options.contextLength}`);
    }
    if (c.kind === 'pp' && c.tokens > graph.options.maxBatch) {
      throw new RangeError(`${testName(c)}: batch ${c.tokens} exceeds the largest batch ${graph.options.maxBatch}`);
    }
  }
  list.forEach((graph, i) => fillDepth(graph, c.depth, randoms[i]));
  const runOnce = (graph: LlamaGraph, random: () => number): number => {
    const t0 = performance.now();
    if (c.kind === 'pp') {
      graph.forward(randomTokens(c.tokens, graph.cfg.vocab, random), c.depth, 'argmax');
    } else {
      // greedy decoding, chained on the GPU (LlamaGraph.greedy: one submit per up to CHAIN_MAX tokens)
      graph.greedy(Math.floor(random() * graph.cfg.vocab), c.depth, c.tokens);
    }
    return performance.now() - t0;
  };
  list.forEach((graph, i) => runOnce(graph, randoms[i]));
  for (const t0 = performance.now(); performance.now() - t0 < warmupMs; ) list.forEach((graph, i) => runOnce(graph, randoms[i]));
  const runsMs: number[][] = list.map(() => []);
  for (let r = 0; r < repetitions; r++) {
    const order = list.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) runsMs[i].push(runOnce(list[i], randoms[i]));
  }
  return runsMs.map((runs) => {
    const rates = runs.map((ms) => (c.tokens * 1000) / ms);
    return {
      ...c,
      test: testName(c),
      tokensPerSecond: mean(rates),
      stddev: rates.length > 1 ? sampleStandardDeviation(rates) : 0,
      runsMs: runs,
    };
  });
}

/** Render results as llama-bench's markdown table. */
export function benchTable(rows: BenchResult[], model: { name: string; sizeBytes: number; params: number; backend: string }): string {
  const size = model.sizeBytes >= 2 ** 30 ? (model.sizeBytes / 2 ** 30).toFixed(2) + ' GiB' : (model.sizeBytes / 2 ** 20).toFixed(2) + ' MiB';
  const params = model.params >= 1e9 ? (model.params / 1e9).toFixed(2) + ' B' : (model.params / 1e6).toFixed(2) + ' M';
  const header = ['model', 'size', 'params', 'backend', 'test', 't/s'];
  const body = rows.map((r) => [model.name, size, params, model.backend, r.test, `${r.tokensPerSecond.toFixed(2)} ± ${r.stddev.toFixed(2)}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';
  const sep = '| ' + widths.map((w, i) => (i >= 4 ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ') + ' |';
  return [line(header), sep, ...body.map(line)].join('\n');
}
