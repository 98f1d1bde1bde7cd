import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { generate } from '../../runtime/generate';
import { openModel } from '../../runtime/session';
import { preset } from '../../runtime/presets';
import { synthModel } from '../../runtime/synth';
import { tokenizerFromGguf } from '../../runtime/tokenizer';
import { readPack } from '../../tuner/pack/read';
import { cacheDir, openDevice, parseDuration, requireFile } from '../common';
import { loadDefaultPack } from '../packs';
import { packFileName, runAutotune } from './autotune';
import { benchCases, benchModel, printBench, warmupFor } from './bench';
import { llama3VocabCandidates } from './synth';

/** What the main job does on a device: a CPU device (lavapipe) gets a tiny job, a GPU a real one. */
export function jobFor(deviceType: string) {
  const cpu = deviceType === 'cpu';
  return cpu
    ? { preset: 'test-tiny', type: 'f32' as const, batches: [1, 16], depths: [0, 64], budget: '90s', pp: [16], tg: [16], benchDepths: [0, 64], reps: 2 }
    : { preset: 'llama-3.2-1b', type: 'f16' as const, batches: [1, 512], depths: [0, 4096], budget: '10m', pp: [512], tg: [128], benchDepths: [0, 4096], reps: 3 };
}

/** `kpack quickstart`: autotune for this device, write the pack, run and bench a model with it vs the defaults. */
export const quickstartCommand: CommandModule<object, any> = {
  command: 'quickstart',
  describe: 'Autotune on this device, write a pack, then run and bench a model with it against the default kernels',
  builder: (y) =>
    y.options({
      device: { type: 'number', default: 0, describe: 'Vulkan device index' },
      model: { type: 'string', describe: 'GGUF model (default: a synthetic model of a small preset)' },
      budget: { type: 'string', describe: 'autotune budget (default: sized to the device)' },
    }),
  handler: async (args) => {
    const ctx = openDevice(args.device);
    try {
      const job = jobFor(ctx.device.deviceType);
      console.log(`quickstart on ${ctx.device.name} (${ctx.device.deviceType}): ${args.model ?? `synthetic ${job.preset} ${job.type}`}`);
      let model = args.model ? requireFile('--model', args.model, 'a GGUF model file') : undefined;
      if (!model) {
        fs.mkdirSync(path.join(cacheDir, 'models'), { recursive: true });
        model = path.join(cacheDir, 'models', `${job.preset}-${job.type}.gguf`);
        if (!fs.existsSync(model)) {
          console.log(`synthesizing ${model}`);
          const vocabGguf = job.preset === 'test-tiny' ? undefined : llama3VocabCandidates.find((p) => fs.existsSync(p));
          synthModel(preset(job.preset), job.type, model, { seed: 1, vocabGguf });
        }
      }
      fs.mkdirSync(path.join(cacheDir, 'packs'), { recursive: true });
      const out = path.join(cacheDir, 'packs', packFileName(ctx, path.basename(model, '.gguf')));
      await runAutotune(ctx, {
        model,
        weightType: job.type,
        kvType: 'f16',
        batches: job.batches,
        depths: job.depths,
        budgetMs: parseDuration('budget', args.budget ?? job.budget),
        out,
      });
      const tuned = readPack(out, { device: ctx.device });
      const defaults = loadDefaultPack();

      const session = openModel(ctx, model, { packs: [tuned, defaults], contextLength: 256, maxBatch: 64, kvType: 'f16' });
      try {
        process.stdout.write(`\nrun (greedy, 32 tokens${args.model ? '' : '; random weights, so the text is noise'}): `);
        generate(session.graph, tokenizerFromGguf(session.gguf), {
          prompt: 'Once upon a time',
          maxTokens: 32,
          temperature: 0,
          topK: 0,
          topP: 1,
          seed: 0,
          onText: (t) => process.stdout.write(t),
        });
        process.stdout.write('\n\n');
      } finally {
        session.close();
      }

      const cases = benchCases(job.pp, job.tg, job.benchDepths);
      const [run, base] = benchModel(
        ctx,
        model,
        [
          { backend: 'Vulkan (kpack)', packs: [tuned, defaults] },
          { backend: 'Vulkan (defaults)', packs: [defaults] },
        ],
        cases,
        { repetitions: job.reps, kvType: 'f16', warmupMs: warmupFor(ctx.device, undefined) },
      );
      printBench(run, base, 'table', model);
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};
