import type { CommandModule } from 'yargs';
import { convertLlama2c } from '../../runtime/convert/llama2c';
import { requireFile } from '../common';

/** `kpack convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf`. */
export const convertCommand: CommandModule<object, any> = {
  command: 'convert <format> <model> <tokenizer>',
  describe: 'Convert a llama2.c checkpoint and tokenizer to GGUF',
  builder: (y) =>
    y
      .positional('format', { choices: ['llama2c'] as const, describe: 'source format' })
      .positional('model', { type: 'string', describe: 'llama2.c checkpoint (.bin)' })
      .positional('tokenizer', { type: 'string', describe: 'llama2.c tokenizer (.bin)' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'output GGUF file' })
      .option('type', { choices: ['f32', 'f16'], default: 'f32', describe: 'matrix storage type' }),
  handler: (args) => {
    requireFile('model', args.model, 'a llama2.c checkpoint');
    requireFile('tokenizer', args.tokenizer, 'a llama2.c tokenizer');
    const cfg = convertLlama2c(args.model, args.tokenizer, args.out, { f16: args.type === 'f16' });
    console.log(
      `wrote ${args.out}: llama, dim ${cfg.dim}, ${cfg.layers} layers, ${cfg.heads}/${cfg.kvHeads} heads, head dim ${cfg.headDim}, FFN ${cfg.ffnDim}, vocab ${cfg.vocab}`,
    );
  },
};
