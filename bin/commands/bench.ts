import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import type { KvType } from '../../generator/ops';
import { BENCH_WARMUP_MS, type BenchCase, type BenchResult, benchCase, benchTable } from '../../runtime/bench';
import { type OpTime, OpProfiler, splitProfile, summarizeProfile } from '../../runtime/profile';
import { dependentDispatchNs } from '../../tuner/timing';
import { type ModelSession, openModel } from '../../runtime/session';
import type { Pack } from '../../tuner/pack/format';
import type { Context } from '../../native/vulkan/api';
import { openDevice, parseDuration, parseIntList, requireFile } from '../common';
import { COMPARE_DEPTHS, compareTable, depthsWithinContext, runCompare } from '../compare';
import { choosePacks, loadDefaultPack } from '../packs';
import { GgufFile } from '../../runtime/gguf';
import { llamaConfigFromGguf } from '../../runtime/model-config';
import type { PeerGpu } from '../../runtime/peer/llama-cpp';
import { openHipModel } from '../../runtime/hip/session';
import type { LlamaGraph } from '../../runtime/model/llama';
import { type HipRunSetup, openHipRun, runOptions } from './run';

export interface BenchRun {
  rows: BenchResult[];
  table: string;
  /** Per-op GPU time split of one decode step (tokens 1) and of one prompt batch (the largest pp size) at each profiled depth (when asked for). */
  profiles: Array<{ depth: number; tokens: number; ops: OpTime[] }>;
  /** GPU ns of one dependent dispatch of a 4 KiB copy, measured in the same run when profiling (null: not measured, or no timestamps). */
  dispatchNs: number | null;
  /** Which kernel-selection levels served the op calls (exact, shape, op, default). */
  levels: Record<string, number>;
}

export interface BenchSetup {
  /** Table label, e.g. "Vulkan (kpack)". */
  backend: string;
  packs: Pack[];
}

/**
 * Bench a model file with one or more kernel setups side by side: every setup gets its own copy of
 * the model on the GPU and the runs of each case interleave (see benchCase). The context is sized
 * to the deepest case.
 * @returns one BenchRun per setup, in order.
 */
export function benchModel(
  ctx: Context,
  model: string,
  setups: BenchSetup[],
  cases: BenchCase[],
  opts: { repetitions: number; kvType: KvType; profileDepths?: number[]; warmupMs?: number },
): BenchRun[] {
  const deepest = Math.max(...cases.map((c) => c.depth + c.tokens));
  const maxBatch = Math.max(1, ...cases.filter((c) => c.kind === 'pp').map((c) => c.tokens));
  const sessions: ModelSession[] = [];
  try {
    for (const s of setups) sessions.push(openModel(ctx, model, { packs: s.packs, contextLength: deepest, maxBatch, kvType: opts.kvType }));
    const perCase = cases.map((c) => benchCase(sessions.map((s) => s.graph), c, opts.repetitions, 1, opts.warmupMs ?? 0));
    return setups.map((setup, i) => {
      const rows = perCase.map((results) => results[i]);
      const session = sessions[i];
      const prompt = Math.max(0, ...cases.filter((c) => c.kind === 'pp').map((c) => c.tokens));
      const profiles = (opts.profileDepths ?? []).flatMap((depth) => [
        { depth, tokens: 1, ops: profileStep(session, depth, 1) },
        ...(prompt > 0 ? [{ depth, tokens: prompt, ops: profileStep(session, depth, prompt) }] : []),
      ]);
      const dispatchNs = profiles.length ? measureDispatchFloor(ctx, session) : null;
      const table = benchTable(rows, {
        name: `${path.basename(model)} ${session.typeName}`,
        sizeBytes: session.weights.bytes,
        params: session.params,
        backend: setup.backend,
      });
      return { rows, table, profiles, dispatchNs, levels: { ...session.kernels.levelCounts } };
    });
  } finally {
    for (const s of sessions) s.close();
  }
}

/**
 * Bench a model file on the HIP back-end (runtime/model/llama-hip.ts): one session sized to the deepest
 * case, each case timed as benchCase does; the table's backend column names the API, device and compiler.
 * @throws Error as openHipModel and the HIP kernels (no kernel for a shape, compile errors).
 */
export function benchModelHip(setup: HipRunSetup, model: string, cases: BenchCase[], opts: { repetitions: number; kvType: KvType; warmupMs?: number }): BenchRun {
  const deepest = Math.max(...cases.map((c) => c.depth + c.tokens));
  const maxBatch = Math.max(1, ...cases.filter((c) => c.kind === 'pp').map((c) => c.tokens));
  const session = openHipModel(setup.ctx, model, { packs: setup.packs, defaults: setup.defaults, contextLength: deepest, maxBatch, kvType: opts.kvType });
  try {
    // HipLlamaGraph has LlamaGraph's forward / greedy / options / cfg, all benchCase uses
    const rows = cases.map((c) => benchCase(session.graph as unknown as LlamaGraph, c, opts.repetitions, 1, opts.warmupMs ?? 0)[0]);
    const table = benchTable(rows, { name: `${path.basename(model)} ${session.typeName}`, sizeBytes: session.weights.bytes, params: session.params, backend: setup.backend });
    process.stderr.write(`kpack: ${session.kernels.compiles} HIP sources compiled in ${(session.kernels.compileMs / 1000).toFixed(1)} s\n`);
    return { rows, table, profiles: [], dispatchNs: null, levels: { ...session.kernels.levelCounts } };
  } finally {
    session.close();
  }
}

/** GPU time per op of one forward step of `tokens` tokens at position `depth` (after two unprofiled warm-up steps). */
function profileStep(session: ModelSession, depth: number, tokens: number): OpTime[] {
  const { graph, kernels } = session;
  const ids = Array.from({ length: tokens }, (_, i) => 1 + (i % 1000));
  graph.forward(ids, depth, 'argmax');
  graph.forward(ids, depth, 'argmax');
  kernels.profiler = new OpProfiler();
  try {
    graph.forward(ids, depth, 'argmax');
    return graph.lastProfile;
  } finally {
    kernels.profiler = null;
  }
}

/** GPU ns of one dependent dispatch (tuner/timing.ts dependentDispatchNs) of the session's copy kernel on 4 KiB. */
function measureDispatchFloor(ctx: Context, session: ModelSession): number | null {
  const bytes = 4096;
  const { variant } = session.kernels.choose({ op: 'copy', instance: 'u32', shape: { bytes }, shapeKey: null, batch: 1, depth: 0 });
  const src = ctx.createBuffer(bytes), dst = ctx.createBuffer(bytes);
  try {
    return dependentDispatchNs(ctx, session.kernels.pipelines, variant, { bytes }, { src, dst });
  } finally {
    src.destroy();
    dst.destroy();
  }
}

/** Cases in llama-bench order: for each depth, every pp then every tg. */
export function benchCases(pp: number[], tg: number[], depths: number[]): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const depth of depths) {
    for (const tokens of pp) if (tokens > 0) cases.push({ kind: 'pp', tokens, depth });
    for (const tokens of tg) if (tokens > 0) cases.push({ kind: 'tg', tokens, depth });
  }
  return cases;
}

/** `kpack bench`: llama-bench-style pp/tg throughput with a pack (and optionally the defaults beside it). */
export const benchCommand: CommandModule<object, any> = {
  command: 'bench',
  describe: 'Measure prompt processing (pp) and generation (tg) throughput, llama-bench style',
  builder: (y) =>
    y.options({
      ...runOptions,
      p: { type: 'string', default: '512', describe: 'prompt sizes, comma-separated (0 = none)' },
      n: { type: 'string', default: '128', describe: 'generation lengths, comma-separated (0 = none)' },
      d: { type: 'string', describe: 'KV depths, comma-separated (default 0; with --compare 0,4096,16384,65536)' },
      r: { type: 'number', default: 3, describe: 'repetitions per case' },
      warmup: { type: 'string', describe: `warm-up per case before the timed runs (e.g. 1500ms, 0): the GPU's clock rises under sustained load (default ${BENCH_WARMUP_MS}ms on GPUs, 0 on CPU devices)` },
      o: { choices: ['table', 'jsonl'], default: 'table', describe: 'output format' },
      'vs-defaults': { type: 'boolean', default: false, describe: 'also bench the built-in defaults, interleaved, and print the speed-up' },
      profile: { type: 'boolean', default: false, describe: 'print the GPU time per op of one decode step at each depth' },
      compare: { choices: ['llama.cpp'], describe: 'also bench llama.cpp (node-llama-cpp, packs/stage-peer.sh) on the same file, side by side' },
      'peer-gpu': { type: 'string', default: 'vulkan,cuda', describe: 'with --compare: llama.cpp builds to run (vulkan, cuda, cpu); one that cannot load is skipped' },
    }),
  handler: async (args) => {
    requireFile('--model', args.model, 'a GGUF model file');
    const pp = parseIntList('p', args.p);
    const tg = parseIntList('n', args.n);
    let depths = parseIntList('d', args.d ?? (args.compare ? COMPARE_DEPTHS.join(',') : '0'));
    if (args.compare) {
      for (const o of ['vs-defaults', 'profile']) if (args[o]) throw new Error(`--compare llama.cpp does not combine with --${o} (run them separately)`);
      const g = GgufFile.open(args.model);
      const contextLength = (() => { try { return llamaConfigFromGguf(g).contextLength; } finally { g.close(); } })();
      depths = depthsWithinContext(depths, Math.max(...pp, ...tg), contextLength, (s) => process.stderr.write(`kpack: ${s}\n`));
      if (depths.length === 0) throw new Error(`-d ${args.d ?? COMPARE_DEPTHS.join(',')}: no depth fits the model's context length ${contextLength}`);
    }
    const cases = benchCases(pp, tg, depths);
    if (cases.length === 0) throw new Error('nothing to bench: -p and -n are both 0');
    if (args.backend === 'hip') {
      for (const o of ['vs-defaults', 'profile', 'compare']) if (args[o]) throw new Error(`--${o} is not supported with --backend hip (bench the HIP kernels alone, or use --backend vulkan)`);
      const setup = openHipRun(args as unknown as Parameters<typeof openHipRun>[0]);
      try {
        process.stderr.write(`${setup.description}\n`);
        printBench(benchModelHip(setup, args.model, cases, { repetitions: args.r, kvType: args['kv-type'], warmupMs: warmupFor({ deviceType: 'gpu' }, args.warmup) }), null, args.o, args.model);
      } finally {
        setup.ctx.destroy();
      }
      return;
    }
    const ctx = openDevice(args.device);
    try {
      const choice = choosePacks(ctx, args.pack, args['force-pack'], args['default-kernels']);
      process.stderr.write(`${choice.description}\n`);
      if (args.compare) {
        const rows = await runCompare(ctx, args.model, choice.packs, cases, {
          repetitions: args.r,
          kvType: args['kv-type'],
          warmupMs: warmupFor(ctx.device, args.warmup),
          peerGpus: parsePeerGpus(args['peer-gpu']),
          note: (s) => process.stderr.write(`kpack: ${s}\n`),
        });
        if (args.o === 'jsonl') for (const r of rows) console.log(JSON.stringify(r));
        else console.log(compareTable(rows));
        ctx.savePipelineCache();
        return;
      }
      const setups: BenchSetup[] = [{ backend: 'Vulkan (kpack)', packs: choice.packs }];
      if (args['vs-defaults']) setups.push({ backend: 'Vulkan (defaults)', packs: [loadDefaultPack()] });
      const profileDepths = args.profile ? depths : [];
      const [run, base] = benchModel(ctx, args.model, setups, cases, { repetitions: args.r, kvType: args['kv-type'], profileDepths, warmupMs: warmupFor(ctx.device, args.warmup) });
      printBench(run, base ?? null, args.o, args.model);
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};

/**
 * The warm-up per case: --warmup as a duration, else BENCH_WARMUP_MS on GPUs and 0 on CPU devices.
 * @throws Error naming --warmup for a value that is not a duration.
 */
export function warmupFor(device: { deviceType: string }, value: string | undefined): number {
  if (value === undefined) return device.deviceType === 'cpu' ? 0 : BENCH_WARMUP_MS;
  return parseDuration('warmup', value);
}

/**
 * Parse --peer-gpu "vulkan,cuda,cpu".
 * @throws Error naming the option for an unknown build.
 */
export function parsePeerGpus(value: string): PeerGpu[] {
  const items = String(value).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of items) if (!['vulkan', 'cuda', 'cpu'].includes(s)) throw new Error(`--peer-gpu: "${s}" is not a llama.cpp build (expected vulkan, cuda or cpu)`);
  if (items.length === 0) throw new Error('--peer-gpu: empty list (expected e.g. vulkan,cuda)');
  return [...new Set(items)] as PeerGpu[];
}

/** Print a bench run (and its defaults baseline with speed-ups) as a table or JSONL. */
export function printBench(run: BenchRun, base: BenchRun | null, format: string, model: string): void {
  if (format === 'jsonl') {
    for (const [i, r] of run.rows.entries()) {
      const b = base?.rows[i];
      console.log(JSON.stringify({ model, test: r.test, kind: r.kind, tokens: r.tokens, depth: r.depth, tps: r.tokensPerSecond, stddev: r.stddev, ...(b ? { defaultsTps: b.tokensPerSecond, speedup: r.tokensPerSecond / b.tokensPerSecond } : {}) }));
    }
    return;
  }
  console.log(run.table);
  if (base) {
    console.log('\n' + base.table + '\n');
    for (const [i, r] of run.rows.entries()) {
      console.log(`${r.test.padEnd(16)} speed-up over the default kernels: ${(r.tokensPerSecond / base.rows[i].tokensPerSecond).toFixed(2)}x`);
    }
  }
  console.log(`kernel selection: ${Object.entries(run.levels).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const [name, r] of [['kpack', run], ['defaults', base]] as const) {
    for (const p of r?.profiles ?? []) {
      const title = p.tokens === 1 ? `${name}: one decode step at depth ${p.depth}` : `${name}: one prompt batch of ${p.tokens} tokens at depth ${p.depth}`;
      console.log('\n' + formatProfile(title, p.ops, r!.dispatchNs, r!.rows.find((x) => x.depth === p.depth && (p.tokens === 1 ? x.kind === 'tg' : x.kind === 'pp' && x.tokens === p.tokens))));
    }
  }
}

/**
 * The per-op split of a forward step; then weight products / attention / the rest, the step's dispatches times the
 * measured cost of one dependent dispatch (dispatchNs, when measured: the part of the step that is barriers and
 * launches, not kernel work), and the host wall time of the step when its bench row is known.
 */
function formatProfile(title: string, ops: OpTime[], dispatchNs: number | null, row?: BenchResult): string {
  const total = ops.reduce((s, o) => s + o.ns, 0);
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const lines = [title, `  ${'op'.padEnd(48)} ${'calls'.padStart(5)} ${'GPU us'.padStart(9)} ${'share'.padStart(6)}`];
  for (const e of summarizeProfile(ops)) {
    lines.push(`  ${e.label.padEnd(48)} ${String(e.calls).padStart(5)} ${us(e.ns).padStart(9)} ${((100 * e.ns) / total).toFixed(1).padStart(5)}%`);
  }
  lines.push(`  ${'GPU total (timestamps, incl. barriers)'.padEnd(48)} ${String(ops.length).padStart(5)} ${us(total).padStart(9)}`);
  const split = splitProfile(ops, dispatchNs);
  const pct = (ns: number) => `${((100 * ns) / total).toFixed(1)}%`;
  lines.push(`  split: GEMV/GEMM ${us(split.matmulNs)} us (${pct(split.matmulNs)}), attention ${us(split.attentionNs)} us (${pct(split.attentionNs)}), the rest ${us(split.otherNs)} us (${pct(split.otherNs)})`);
  if (split.floorNs !== null) {
    lines.push(`  dispatch floor: ${split.dispatches} dispatches x ${(dispatchNs! / 1000).toFixed(2)} us (a 4 KiB copy then a barrier, same run) = ${us(split.floorNs)} us (${pct(split.floorNs)}) of the GPU total`);
  }
  if (row) {
    // tg: one token per step; pp: the whole batch is one step
    const wallNs = (1e9 * (row.kind === 'pp' ? row.tokens : 1)) / row.tokensPerSecond;
    lines.push(`  ${`wall time per step (${row.test})`.padEnd(48)} ${''.padStart(5)} ${us(wallNs).padStart(9)}  host and submit: ${us(wallNs - total)} us`);
  }
  return lines.join('\n');
}
