import type { CommandModule } from 'yargs';
import { generate } from '../../runtime/generate';
import { openModel } from '../../runtime/session';
import { tokenizerFromGguf } from '../../runtime/tokenizer';
import { openDevice, requireFile } from '../common';
import { choosePacks } from '../packs';

export const runOptions = {
  model: { alias: 'm', type: 'string', demandOption: true, describe: 'GGUF model file' },
  pack: { type: 'string', describe: 'kernel pack (default: the installed pack for this device, else built-in defaults)' },
  'default-kernels': { type: 'boolean', default: false, describe: 'use only the built-in default variants (ignore packs)' },
  'force-pack': { type: 'boolean', default: false, describe: 'use a pack tuned for another device (with a warning)' },
  device: { type: 'number', default: 0, describe: 'Vulkan device index (kpack devices)' },
  'kv-type': { choices: ['f16', 'f32'], default: 'f16', describe: 'KV cache type' },
  ctx: { type: 'number', default: 4096, describe: 'context length (KV cache capacity, tokens)' },
  batch: { type: 'number', default: 512, describe: 'largest prompt batch per forward call' },
} as const;

/** `kpack run`: generate text from a prompt, streamed to stdout. */
export const runCommand: CommandModule<object, any> = {
  command: 'run',
  describe: 'Generate text with a GGUF model',
  builder: (y) =>
    y.options({
      ...runOptions,
      prompt: { alias: 'p', type: 'string', default: '', describe: 'prompt text' },
      n: { alias: 'n', type: 'number', default: 128, describe: 'tokens to generate' },
      temp: { type: 'number', default: 0, describe: 'temperature (0 = greedy)' },
      'top-k': { type: 'number', default: 40, describe: 'top-k (0 = off)' },
      'top-p': { type: 'number', default: 0.95, describe: 'top-p (1 = off)' },
      seed: { type: 'number', default: 0, describe: 'sampling seed' },
      stats: { type: 'boolean', default: true, describe: 'print timings to stderr' },
    }),
  handler: (args) => {
    requireFile('--model', args.model, 'a GGUF model file');
    const ctx = openDevice(args.device);
    try {
      const choice = choosePacks(ctx, args.pack, args['force-pack'], args['default-kernels']);
      process.stderr.write(`${choice.description}\n`);
      const session = openModel(ctx, args.model, {
        packs: choice.packs,
        contextLength: args.ctx,
        maxBatch: args.batch,
        kvType: args['kv-type'],
      });
      try {
        const tokenizer = tokenizerFromGguf(session.gguf);
        process.stdout.write(args.prompt);
        const result = generate(session.graph, tokenizer, {
          prompt: args.prompt,
          maxTokens: args.n,
          temperature: args.temp,
          topK: args['top-k'],
          topP: args['top-p'],
          seed: args.seed,
          onText: (t) => process.stdout.write(t),
        });
        process.stdout.write('\n');
        if (args.stats) {
          const pp = (result.promptTokens.length * 1000) / result.promptMs;
          const tg = result.tokens.length > 1 ? ((result.tokens.length - 1) * 1000) / result.decodeMs : 0;
          process.stderr.write(
            `prompt: ${result.promptTokens.length} tokens, ${pp.toFixed(1)} t/s; generated ${result.tokens.length} tokens, ${tg.toFixed(1)} t/s\n`,
          );
        }
      } finally {
        session.close();
      }
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};
