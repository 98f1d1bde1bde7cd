#!/usr/bin/env node
/**
 * kpack's command line: the one place that imports every stage (generator, tuner, packs, runtime).
 * Each command lives in ./commands/<name>.ts; errors print one clear line and exit non-zero.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { autotuneCommand } from './commands/autotune';
import { benchCommand } from './commands/bench';
import { benchOpsCommand } from './commands/bench-ops';
import { convertCommand } from './commands/convert';
import { devicesCommand } from './commands/devices';
import { generateCommand } from './commands/generate';
import { packCommand } from './commands/pack';
import { quickstartCommand } from './commands/quickstart';
import { reportCommand } from './commands/report';
import { runCommand } from './commands/run';
import { synthCommand } from './commands/synth';

/** Parse and run; a handler's synchronous throw becomes a rejection here, so every error reaches die(). */
async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('kpack')
    .command(devicesCommand)
    .command(generateCommand)
    .command(autotuneCommand)
    .command(packCommand)
    .command(convertCommand)
    .command(synthCommand)
    .command(runCommand)
    .command(benchCommand)
    .command(benchOpsCommand)
    .command(quickstartCommand)
    .command(reportCommand)
    .demandCommand(1, 'name a command (kpack --help lists them)')
    .strict()
    .fail((msg, err, y) => {
      if (err) die(err);
      y.showHelp();
      process.stderr.write(`\nkpack: ${msg}\n`);
      process.exit(1);
    })
    .help()
    .parseAsync();
}

main().catch(die);

/** Print one clear line (the stack too with KPACK_DEBUG=1) and exit non-zero. */
function die(err: Error): never {
  process.stderr.write(`kpack: ${err.message}\n`);
  if (process.env.KPACK_DEBUG) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
