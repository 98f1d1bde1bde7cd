import type { CommandModule } from 'yargs';
import { writeReport } from '../../tuner/bench-report';

/** `kpack report --bench FILE.jsonl [--ops FILE.jsonl] --out DIR`: markdown + PNG charts from JSONL. */
export const reportCommand: CommandModule<object, any> = {
  command: 'report',
  describe: 'Write a markdown report with PNG charts from bench (and bench-ops) JSONL',
  builder: (y) =>
    y.options({
      bench: { type: 'string', array: true, demandOption: true, describe: 'JSONL from kpack bench --compare llama.cpp -o jsonl (repeatable)' },
      ops: { type: 'string', array: true, describe: 'JSONL from kpack bench-ops -o jsonl (repeatable)' },
      out: { type: 'string', default: 'docs/report', describe: 'output folder (README.md and PNGs)' },
    }),
  handler: async (args) => {
    const files = await writeReport({ bench: args.bench, ops: args.ops ?? [], out: args.out });
    for (const f of files) console.log(`wrote ${f}`);
  },
};
