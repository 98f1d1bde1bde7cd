import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { DEFAULT_HIP_SAMPLE, generateHip } from '../../generator/hip/bundle';
import { hipFamilies, hipFamily } from '../../generator/hip/families';
import { writeHipDefaultSources } from '../../generator/hip/sources';
import { generate } from '../../generator/manifest';
import { defaultEntries } from '../../tuner/default-pack';
import { createPack, currentToolchain, writePack } from '../../tuner/pack/write';
import { builtKernelsDir } from '../common';

/** Comma-separated list option -> trimmed non-empty items. */
const list = (s: string | undefined): string[] => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/**
 * `kpack generate [--backend vulkan|hip] [--out DIR] [--default-pack FILE]` (vulkan also writes the HIP
 * defaults' runtime sources to DIR/hip, generator/hip/sources.ts); with `--backend hip`:
 * `--offload-arch gfx90a,gfx1030 [--sample N | --all] [--family ID,...] [--jobs N]`.
 */
export const generateCommand: CommandModule<object, any> = {
  command: 'generate',
  describe: 'Render the templates and compile them (Vulkan: SPIR-V + variant manifest; HIP: AMD code objects + manifest)',
  builder: (y) =>
    y.options({
      backend: { choices: ['vulkan', 'hip'] as const, default: 'vulkan', describe: 'vulkan: GLSL -> SPIR-V; hip: HIP -> AMD code objects (hipcc)' },
      out: { type: 'string', describe: `output directory (vulkan: manifest.json + spirv/, default ${builtKernelsDir}; hip: hip-manifest.json + co/ + src/, default ${builtKernelsDir}-hip)` },
      'default-pack': { type: 'string', describe: 'vulkan: also write the built-in default pack here' },
      'offload-arch': { type: 'string', default: 'gfx90a,gfx1030', describe: 'hip: comma-separated AMD archs (hipcc 5.2 builds gfx9xx and gfx10xx, not gfx11)' },
      sample: { type: 'number', default: DEFAULT_HIP_SAMPLE, describe: 'hip: sampled variants per (family, instance, wave) besides the defaults (deterministic)' },
      all: { type: 'boolean', default: false, describe: 'hip: every variant of every pruned space (large)' },
      family: { type: 'string', describe: `hip: only these families (${hipFamilies.map((f) => f.family.id).join(', ')})` },
      jobs: { type: 'number', describe: 'hip: hipcc processes at once (default: CPU count)' },
      verbose: { type: 'boolean', default: false, describe: 'log every compiled instance / code object' },
    }),
  handler: async (args) => {
    if (args.backend === 'hip') {
      const outDir = path.resolve(args.out ?? `${builtKernelsDir}-hip`);
      if (!(Number.isInteger(args.sample) && args.sample >= 0)) throw new Error(`--sample must be a non-negative integer, got ${args.sample}`);
      const archs = list(args['offload-arch']);
      const fams = args.family ? list(args.family).map(hipFamily) : undefined;
      const m = await generateHip({ outDir, archs, families: fams, sample: args.sample, all: args.all, jobs: args.jobs, log: args.verbose ? (s) => console.error(s) : undefined });
      for (const s of m.skipped) console.error(`warning: ${s.family}/${s.instance} wave${s.wave}: ${s.reason}`);
      const entries = m.variants.reduce((n, v) => n + v.entries.length, 0);
      console.log(`hip: ${m.variants.length} code objects (${archs.join(', ')}; ${entries} kernels) -> ${outDir} (${m.toolchain.hipcc})`);
      return;
    }
    const outDir = path.resolve(args.out ?? builtKernelsDir);
    const manifest = await generate({ outDir, log: (m) => (args.verbose || m.startsWith('warning') ? console.error(m) : undefined) });
    const built = manifest.families.reduce((s, f) => s + f.instances.length, 0);
    const skipped = manifest.families.reduce((s, f) => s + f.skipped.length, 0);
    console.log(`kernels: ${manifest.families.length} families, ${built} SPIR-V instances, ${skipped} skipped -> ${outDir} (glslang ${manifest.toolchain.glslang})`);
    // the HIP defaults' sources, rendered now so `run|bench --backend hip` never needs the template engine
    const hipDir = path.join(outDir, 'hip');
    const hipm = writeHipDefaultSources(hipDir);
    console.log(`hip: ${hipm.sources.length} default sources (waves ${hipm.waves.join(', ')}) -> ${hipDir}`);
    if (args['default-pack']) {
      const blobs = new Map<string, Uint8Array>();
      const entries = defaultEntries(manifest, outDir, blobs);
      const pack = createPack({ device: null, toolchain: currentToolchain(manifest.toolchain.glslang), entries, blobs, name: 'default' });
      writePack(args['default-pack'], pack);
      console.log(`default pack: ${entries.length} entries -> ${args['default-pack']}`);
    }
  },
};
