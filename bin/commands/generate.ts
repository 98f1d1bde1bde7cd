import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { generate } from '../../generator/manifest';
import { defaultEntries } from '../../tuner/default-pack';
import { createPack, currentToolchain, writePack } from '../../tuner/pack/write';
import { builtKernelsDir } from '../common';

/** `kpack generate [--out DIR] [--default-pack FILE]`. */
export const generateCommand: CommandModule<object, any> = {
  command: 'generate',
  describe: 'Render the templates, compile SPIR-V and write the variant manifest',
  builder: (y) =>
    y.options({
      out: { type: 'string', default: builtKernelsDir, describe: 'output directory (manifest.json + spirv/)' },
      'default-pack': { type: 'string', describe: 'also write the built-in default pack here' },
      verbose: { type: 'boolean', default: false, describe: 'log every compiled instance' },
    }),
  handler: async (args) => {
    const outDir = path.resolve(args.out);
    const manifest = await generate({ outDir, log: (m) => (args.verbose || m.startsWith('warning') ? console.error(m) : undefined) });
    const built = manifest.families.reduce((s, f) => s + f.instances.length, 0);
    const skipped = manifest.families.reduce((s, f) => s + f.skipped.length, 0);
    console.log(`kernels: ${manifest.families.length} families, ${built} SPIR-V instances, ${skipped} skipped -> ${outDir} (glslang ${manifest.toolchain.glslang})`);
    if (args['default-pack']) {
      const blobs = new Map<string, Uint8Array>();
      const entries = defaultEntries(manifest, outDir, blobs);
      const pack = createPack({ device: null, toolchain: currentToolchain(manifest.toolchain.glslang), entries, blobs, name: 'default' });
      writePack(args['default-pack'], pack);
      console.log(`default pack: ${entries.length} entries -> ${args['default-pack']}`);
    }
  },
};
