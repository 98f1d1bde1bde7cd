/**
 * Which packs a run uses: the one named by --pack, else an installed pack matching the device,
 * and always the built-in default pack last (the selector's final fallback level).
 */
import * as fs from 'node:fs';
import type { Context } from '../native/vulkan/api';
import type { Pack } from '../tuner/pack/format';
import { readPack } from '../tuner/pack/read';
import { defaultPackDirs, findInstalledPack } from '../runtime/pack-select';
import { defaultPackPath } from './common';

export interface PackChoice {
  packs: Pack[];
  /** One line saying which kernels the run uses. */
  description: string;
}

/** The built-in default pack. @throws Error when the package was not built. */
export function loadDefaultPack(): Pack {
  if (!fs.existsSync(defaultPackPath)) {
    throw new Error(`built-in default pack ${defaultPackPath} is missing: run "npm run build" (or setup.sh) first`);
  }
  return readPack(defaultPackPath);
}

/** What a Vulkan run does with a pack's HIP results (autotune --backend hip|all): one API per run; `--backend hip` runs them. */
function hipNote(pack: Pack): string {
  const h = pack.manifest.hip;
  if (!h) return '';
  const won = h.entries.filter((e) => e.winner === 'hip').length;
  return ` (Vulkan kernels; the pack's ${h.entries.length} HIP results${won ? `, ${won} of them faster than Vulkan,` : ''} are not used: one API per run, \`--backend hip\` runs them)`;
}

/**
 * @param packFile --pack, if given (must exist and match the device unless force).
 * @param useDefaultsOnly --default-kernels: only the built-in defaults.
 */
export function choosePacks(ctx: Context, packFile: string | undefined, force: boolean, useDefaultsOnly = false): PackChoice {
  const defaults = loadDefaultPack();
  if (useDefaultsOnly) return { packs: [defaults], description: 'kernels: built-in default variants (--default-kernels)' };
  const warn = (m: string) => process.stderr.write(m + '\n');
  if (packFile) {
    const pack = readPack(packFile, { device: ctx.device, force, warn });
    return { packs: [pack, defaults], description: `kernels: pack ${packFile}${hipNote(pack)}` };
  }
  const found = findInstalledPack(defaultPackDirs(), ctx.device, { warn });
  if (found) {
    const pack = readPack(found, { device: ctx.device, warn });
    return { packs: [pack, defaults], description: `kernels: installed pack ${found}${hipNote(pack)}` };
  }
  return {
    packs: [defaults],
    description: `kernels: built-in default variants (no pack for ${ctx.device.name} in ${defaultPackDirs().join(' or ')}; kpack autotune makes one)`,
  };
}
