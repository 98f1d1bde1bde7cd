import type { CommandModule } from 'yargs';
import { type KvType, KV_TYPES } from '../../generator/ops';
import type { HipContext } from '../../native/hip/api';
import { generate } from '../../runtime/generate';
import { openHipDevice } from '../../runtime/hip/device';
import { openHipModel } from '../../runtime/hip/session';
import { HipDefaultSources } from '../../runtime/hip/sources';
import type { LlamaGraph } from '../../runtime/model/llama';
import { openModel } from '../../runtime/session';
import { tokenizerFromGguf } from '../../runtime/tokenizer';
import type { Pack } from '../../tuner/pack/format';
import { readPack } from '../../tuner/pack/read';
import { builtKernelsDir, openDevice, requireFile } from '../common';
import { choosePacks } from '../packs';

export const runOptions = {
  model: { alias: 'm', type: 'string', demandOption: true, describe: 'GGUF model file' },
  pack: { type: 'string', describe: 'kernel pack (default: the installed pack for this device, else built-in defaults)' },
  'default-kernels': { type: 'boolean', default: false, describe: 'use only the built-in default variants (ignore packs)' },
  'force-pack': { type: 'boolean', default: false, describe: 'use a pack tuned for another device (with a warning)' },
  device: { type: 'number', default: 0, describe: 'Vulkan device index (kpack devices)' },
  'kv-type': { choices: KV_TYPES, default: 'f16' as KvType, describe: 'K/V cache type (q8_0 / q4_0: ggml blocks, head dim a multiple of 32; Vulkan only)' },
  ctx: { type: 'number', default: 4096, describe: 'context length (KV cache capacity, tokens)' },
  batch: { type: 'number', default: 512, describe: 'largest prompt batch per forward call' },
  backend: { choices: ['vulkan', 'hip'], default: 'vulkan', describe: 'API to run: vulkan, or hip (the HIP kernels through NVRTC / hiprtc on a HIP / CUDA device; sources from the pack\'s HIP entries and the build)' },
  'hip-device': { type: 'number', default: 0, describe: 'HIP / CUDA device index for --backend hip (kpack devices)' },
} as const;

/** What a `--backend hip` run uses: the device, its description, the packs with usable HIP sources, the default sources. */
export interface HipRunSetup {
  ctx: HipContext;
  /** e.g. "HIP (cuda sm_90, NVIDIA H200, NVRTC 12.8)". */
  backend: string;
  packs: Pack[];
  defaults: HipDefaultSources;
  /** One line saying which kernels the run uses. */
  description: string;
}

/**
 * The packs of a --backend hip run: --pack's HIP entries (which must carry sources and match the HIP device
 * unless --force-pack), none with --default-kernels or without --pack (the HIP defaults).
 * @throws Error naming --pack when the pack has no HIP results, none with sources, or was tuned on another
 *   HIP device (without --force-pack).
 */
export function hipPacks(packFile: string | undefined, force: boolean, defaultsOnly: boolean, dev: HipContext['device'], warn: (m: string) => void): { packs: Pack[]; description: string } {
  if (defaultsOnly) return { packs: [], description: 'kernels: HIP default variants (--default-kernels)' };
  if (!packFile) return { packs: [], description: 'kernels: HIP default variants (no --pack; a pack from `kpack autotune --backend hip|all` adds tuned HIP kernels)' };
  requireFile('--pack', packFile, 'a kernel pack (.kpack)');
  const pack = readPack(packFile);
  const h = pack.manifest.hip;
  if (!h || h.entries.length === 0) throw new Error(`--pack ${packFile}: no HIP results (expected a pack written by \`kpack autotune --backend hip|all\`; leave out --pack to run the HIP defaults)`);
  const withSources = h.entries.filter((e) => e.sources?.length).length;
  if (withSources === 0) throw new Error(`--pack ${packFile}: its ${h.entries.length} HIP entries carry no kernel sources (written by an older kpack); re-run \`kpack autotune --backend hip\`, or leave out --pack to run the HIP defaults`);
  const other = h.device.name !== dev.name || h.device.arch !== dev.arch || h.device.warpSize !== dev.warpSize;
  if (other) {
    const msg = `--pack ${packFile}: its HIP entries were tuned on ${h.device.name} (${h.device.arch}, wave ${h.device.warpSize}); this device is ${dev.name} (${dev.arch}, wave ${dev.warpSize})`;
    if (!force) throw new Error(`${msg}; pass --force-pack to use it anyway`);
    warn(`warning: ${msg}; using it anyway (--force-pack)`);
  }
  return { packs: [pack], description: `kernels: pack ${packFile} (${withSources} HIP entries with sources), then the HIP defaults` };
}

/**
 * Open the HIP device and kernel sources of a --backend hip run (args: the run/bench options).
 * @throws Error as openHipDevice, hipPacks and HipDefaultSources.open (each naming the option or the build step).
 */
export function openHipRun(args: { 'hip-device': number; pack?: string; 'force-pack': boolean; 'default-kernels': boolean }): HipRunSetup {
  const defaults = HipDefaultSources.open(builtKernelsDir);
  const { ctx, description: backend } = openHipDevice(args['hip-device']);
  try {
    const { packs, description } = hipPacks(args.pack, args['force-pack'], args['default-kernels'], ctx.device, (m) => process.stderr.write(m + '\n'));
    return { ctx, backend, packs, defaults, description: `backend ${backend}; ${description}` };
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}

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
    if (args.backend === 'hip') return runHip(args);
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

/** `kpack run --backend hip`: the same generation on the HIP graph (runtime/model/llama-hip.ts). */
function runHip(args: any): void {
  const setup = openHipRun(args);
  try {
    process.stderr.write(`${setup.description}\n`);
    const session = openHipModel(setup.ctx, args.model, { packs: setup.packs, defaults: setup.defaults, contextLength: args.ctx, maxBatch: args.batch, kvType: args['kv-type'] });
    try {
      const tokenizer = tokenizerFromGguf(session.gguf);
      process.stdout.write(args.prompt);
      // HipLlamaGraph has LlamaGraph's forward / greedy / options / cfg (generate uses only those)
      const result = generate(session.graph as unknown as LlamaGraph, tokenizer, {
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
        process.stderr.write(`prompt: ${result.promptTokens.length} tokens, ${pp.toFixed(1)} t/s; generated ${result.tokens.length} tokens, ${tg.toFixed(1)} t/s; ${session.kernels.compiles} HIP sources compiled in ${(session.kernels.compileMs / 1000).toFixed(1)} s\n`);
      }
    } finally {
      session.close();
    }
  } finally {
    setup.ctx.destroy();
  }
}
