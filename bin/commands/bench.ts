import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { type BenchCase, type BenchResult, benchCase, benchTable } from '../../runtime/bench';
import { type ModelSession, openModel } from '../../runtime/session';
import type { Pack } from '../../tuner/pack/format';
import type { Context } from '../../native/vulkan/api';
import { openDevice, parseIntList, requireFile } from '../common';
import { choosePacks, loadDefaultPack } from '../packs';
import { runOptions } from './run';

export interface BenchRun {
  rows: BenchResult[];
  table: string;
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
export function benchModel(ctx: Context, model: string, setups: BenchSetup[], cases: BenchCase[], opts: { repetitions: number; kvType: 'f16' | 'f32' }): BenchRun[] {
  const deepest = Math.max(...cases.map((c) => c.depth + c.tokens));
  const maxBatch = Math.max(1, ...cases.filter((c) => c.kind === 'pp').map((c) => c.tokens));
  const sessions: ModelSession[] = [];
  try {
    for (const s of setups) sessions.push(openModel(ctx, model, { packs: s.packs, contextLength: deepest, maxBatch, kvType: opts.kvType }));
    const perCase = cases.map((c) => benchCase(sessions.map((s) => s.graph), c, opts.repetitions));
    return setups.map((setup, i) => {
      const rows = perCase.map((results) => results[i]);
      const session = sessions[i];
      const table = benchTable(rows, {
        name: `${path.basename(model)} ${session.typeName}`,
        sizeBytes: session.weights.bytes,
        params: session.params,
        backend: setup.backend,
      });
      return { rows, table, levels: { ...session.kernels.levelCounts } };
    });
  } finally {
    for (const s of sessions) s.close();
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
      d: { type: 'string', default: '0', describe: 'KV depths, comma-separated' },
      r: { type: 'number', default: 3, describe: 'repetitions per case' },
      o: { choices: ['table', 'jsonl'], default: 'table', describe: 'output format' },
      'vs-defaults': { type: 'boolean', default: false, describe: 'also bench the built-in defaults, interleaved, and print the speed-up' },
    }),
  handler: (args) => {
    requireFile('--model', args.model, 'a GGUF model file');
    const cases = benchCases(parseIntList('p', args.p), parseIntList('n', args.n), parseIntList('d', args.d));
    if (cases.length === 0) throw new Error('nothing to bench: -p and -n are both 0');
    const ctx = openDevice(args.device);
    try {
      const choice = choosePacks(ctx, args.pack, args['force-pack'], args['default-kernels']);
      process.stderr.write(`${choice.description}\n`);
      const setups: BenchSetup[] = [{ backend: 'Vulkan (kpack)', packs: choice.packs }];
      if (args['vs-defaults']) setups.push({ backend: 'Vulkan (defaults)', packs: [loadDefaultPack()] });
      const [run, base] = benchModel(ctx, args.model, setups, cases, { repetitions: args.r, kvType: args['kv-type'] });
      printBench(run, base ?? null, args.o, args.model);
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};

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
}
