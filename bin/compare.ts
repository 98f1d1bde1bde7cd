/**
 * `kpack bench --compare llama.cpp`: kpack and llama.cpp (node-llama-cpp's prebuilt builds) on the same GGUF
 * in one process, case by case (each case runs on kpack, then on every peer build, before the next case),
 * printed side by side with ratios, or as JSONL rows (one per case and engine).
 */
import * as path from 'node:path';
import { type BenchCase, type BenchResult, benchCase } from '../runtime/bench';
import { GgufFile } from '../runtime/gguf';
import { llamaConfigFromGguf } from '../runtime/model-config';
import { LlamaCppPeer, type PeerGpu, findNodeLlamaCpp } from '../runtime/peer/llama-cpp';
import { openModel } from '../runtime/session';
import type { BenchPoint } from '../tuner/bench-report/rows';
import type { Pack } from '../tuner/pack/format';
import type { KvType } from '../generator/ops';
import type { Context } from '../native/vulkan/api';
import { packageRoot } from './common';

/** One JSONL row of a compare run (docs/report reads these keys): a bench point with its run times. */
export interface CompareRow extends BenchPoint {
  runs_ms: number[];
}

/** The depths `kpack bench --compare` runs when -d is not given. */
export const COMPARE_DEPTHS = [0, 4096, 16384, 65536];

/**
 * Drop the depths whose deepest case does not fit the model's context length (a stderr note each).
 * @returns the depths kept, in order.
 */
export function depthsWithinContext(depths: number[], maxTokens: number, contextLength: number, note: (s: string) => void): number[] {
  return depths.filter((d) => {
    if (contextLength > 0 && d + maxTokens > contextLength) {
      note(`skipping depth ${d}: depth + ${maxTokens} tokens exceeds the model's context length ${contextLength}`);
      return false;
    }
    return true;
  });
}

/**
 * Run every case on kpack (with `packs`) and on each loadable llama.cpp build in `peerGpus`; a build that
 * cannot load is skipped with a stderr note. With opts.kvType q8_0 or q4_0 both engines hold that K/V cache (llama.cpp
 * keeps its f16 cache for f16 and f32).
 * @returns one CompareRow per case and engine, cases in order, kpack first within a case.
 * @throws Error when node-llama-cpp is not found or no peer build loads.
 */
export async function runCompare(
  ctx: Context,
  model: string,
  packs: Pack[],
  cases: BenchCase[],
  opts: { repetitions: number; kvType: KvType; warmupMs?: number; peerGpus: PeerGpu[]; note: (s: string) => void },
): Promise<CompareRow[]> {
  const moduleDir = findNodeLlamaCpp(packageRoot);
  if (!moduleDir) {
    throw new Error('--compare llama.cpp: node-llama-cpp not found: run packs/stage-peer.sh (or npm install node-llama-cpp), or set KPACK_NODE_LLAMA_CPP to a node_modules folder holding it');
  }
  const g = GgufFile.open(model);
  let vocab: number;
  try {
    vocab = llamaConfigFromGguf(g).vocab;
  } finally {
    g.close();
  }
  const contextSize = Math.max(...cases.map((c) => c.depth + c.tokens));
  const maxBatch = Math.max(1, ...cases.filter((c) => c.kind === 'pp').map((c) => c.tokens));
  const peers: LlamaCppPeer[] = [];
  const session = openModel(ctx, model, { packs, contextLength: contextSize, maxBatch, kvType: opts.kvType });
  try {
    for (const gpu of opts.peerGpus) {
      try {
        peers.push(await LlamaCppPeer.open({ moduleDir, gpu, model, contextSize, vocab, kvType: opts.kvType, log: opts.note }));
      } catch (e) {
        opts.note(`skipping ${(e as Error).message}`);
      }
    }
    if (peers.length === 0) throw new Error(`--compare llama.cpp: no llama.cpp build loaded (tried ${opts.peerGpus.join(', ')}; see the notes above)`);
    for (const p of peers) opts.note(`${p.engine}: node-llama-cpp ${p.version} on ${p.device}, context ${p.contextSize}`);
    const base = { model: path.basename(model), type: session.typeName };
    const rows: CompareRow[] = [];
    const row = (r: BenchResult, engine: string, device: string): CompareRow => ({
      ...base, test: r.test, kind: r.kind, tokens: r.tokens, depth: r.depth, engine, device, tps: r.tokensPerSecond, sd: r.stddev, runs_ms: r.runsMs,
    });
    for (const c of cases) {
      rows.push(row(benchCase(session.graph, c, opts.repetitions, 1, opts.warmupMs ?? 0)[0], 'kpack', ctx.device.name));
      for (const p of peers) rows.push(row(await p.benchCase(c, opts.repetitions), p.engine, p.device));
    }
    return rows;
  } finally {
    for (const p of peers) await p.close().catch(() => undefined);
    session.close();
  }
}

/**
 * The side-by-side table: test | kpack t/s | one column per peer engine | kpack / best peer.
 * Values are "mean ± sd"; the ratio is over the best peer mean of the row.
 */
export function compareTable(rows: CompareRow[]): string {
  const engines = [...new Set(rows.map((r) => r.engine))].filter((e) => e !== 'kpack');
  const tests = [...new Set(rows.map((r) => r.test))];
  const header = ['test', 'kpack t/s', ...engines.map((e) => `${e} t/s`), 'ratio vs best peer'];
  const fmt = (r?: CompareRow) => (r ? `${r.tps.toFixed(2)} ± ${r.sd.toFixed(2)}` : '-');
  const body = tests.map((t) => {
    const ours = rows.find((r) => r.test === t && r.engine === 'kpack');
    const theirs = engines.map((e) => rows.find((r) => r.test === t && r.engine === e));
    const best = Math.max(0, ...theirs.map((r) => r?.tps ?? 0));
    return [t, fmt(ours), ...theirs.map(fmt), ours && best > 0 ? `${(ours.tps / best).toFixed(2)}x` : '-'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const sep = '| ' + widths.map((w, i) => (i === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ') + ' |';
  const first = rows[0];
  const devices = [...new Map(rows.map((r) => [r.engine, r.device])).entries()].map(([e, d]) => `${e}: ${d}`).join('; ');
  return [`${first?.model ?? ''} ${first?.type ?? ''} (${devices})`, line(header), sep, ...body.map(line)].join('\n');
}
