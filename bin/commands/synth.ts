import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { PRESETS, preset } from '../../runtime/presets';
import { synthModel } from '../../runtime/synth';
import { packageRoot } from '../common';

/** Tokens in the Llama 3 vocabulary (presets of that size get the real one when it is found). */
const LLAMA3_VOCAB_SIZE = 128256;

/** The real Llama 3 vocabulary, when the shared test data sits beside the checkout. */
export const llama3VocabCandidates = [
  process.env.KPACK_VOCAB_GGUF,
  path.join(packageRoot, '..', 'shared', 'vocab', 'ggml-vocab-llama-bpe.gguf'),
].filter((p): p is string => !!p);

/** `kpack synth --preset NAME --type f16|f32|q8_0|q4_0|q4_k|q4_k_m -o OUT.gguf`. */
export const synthCommand: CommandModule<object, any> = {
  command: 'synth',
  describe: "Write a GGUF with random weights in a real model's shapes",
  builder: (y) =>
    y.options({
      preset: { type: 'string', demandOption: true, choices: Object.keys(PRESETS), describe: 'model shape preset' },
      type: {
        choices: ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q4_k_m'], default: 'f16',
        describe: 'matrix storage: f32, f16, or a llama-quantize mix (q4_k = Q4_K_S-like all Q4_K; q4_k_m = Q4_K_M; output/tied embeddings Q6_K as llama.cpp does)',
      },
      out: { alias: 'o', type: 'string', demandOption: true, describe: 'output GGUF file' },
      seed: { type: 'number', default: 1, describe: 'random seed' },
      vocab: { type: 'string', describe: 'GGUF whose tokenizer.ggml.* metadata to copy (default: the Llama 3 vocabulary if found)' },
    }),
  handler: (args) => {
    const cfg = preset(args.preset);
    const vocabGguf = args.vocab ?? (cfg.vocab === LLAMA3_VOCAB_SIZE ? llama3VocabCandidates.find((p) => fs.existsSync(p)) : undefined);
    synthModel(cfg, args.type, args.out, { seed: args.seed, vocabGguf, name: `${args.preset} (synthetic ${args.type})` });
    console.log(`wrote ${args.out}: ${args.preset}, ${args.type}, vocabulary ${vocabGguf ?? 'synthetic'}`);
  },
};
