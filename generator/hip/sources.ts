/**
 * Rendering the HIP sources the runtime compiles (build and tune time only: this module needs the
 * template engine, the runtime does not).
 *
 * - renderRuntimeSources: one variant's sources, one per group of runtimeSourceGroups (matmul.vec one
 *   source per NCOLS, attention one per head dim), each holding the entries the Llama graph may launch
 *   (generator/hip/launch.ts runtimeUsesPoint). `kpack autotune --backend hip|all` stores them in the
 *   pack's HIP entries (tuner/pack/format.ts HipTunedEntry.sources).
 * - writeHipDefaultSources: the HIP defaults (hipDefaults) of every ported family instance (but the
 *   tuner-only ones, HipFamily.tunedOnly) at wavefront
 *   sizes 32 and 64, written by `kpack generate` (`npm run build:kernels`) as <out>/hip/manifest.json
 *   (HipDefaultSourcesManifest) plus <out>/hip/src/<sha256>.hip; files written atomically (temp + rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hipDefaults, hipFamilies, hipInstances } from './families';
import {
  HIP_SOURCES_FORMAT,
  HIP_SOURCES_VERSION,
  type HipDefaultSourceRecord,
  type HipDefaultSourcesManifest,
  type HipSourceUnit,
  type HipVariantSpec,
  runtimeSourceGroups,
} from './launch';
import { renderHip } from './render';
import type { Params } from '../schema';

/**
 * The runtime sources of variant `v` at wavefront size `wave` (module doc), restricted to the dispatch
 * points `keep` accepts (e.g. the NCOLS of a tuned bucket's N range).
 * @returns [] when no runtime point is left; else one unit per group.
 * @throws Error from renderHip (a variant rejected for this wave).
 */
export function renderRuntimeSources(v: Pick<HipVariantSpec, 'hf' | 'inst' | 'params'>, wave: number, keep?: (d: Params) => boolean): HipSourceUnit[] {
  return runtimeSourceGroups(v.hf, v.inst, v.params, wave, keep).map((dispatch) => {
    const r = renderHip({ hf: v.hf, instance: v.inst, params: v.params, wave, dispatch });
    return { sha256: r.sourceSha256, entries: r.entries.map((e) => e.name), text: r.source };
  });
}

/** Wavefront sizes of the default-source bundle. */
export const HIP_DEFAULT_WAVES = [32, 64] as const;

/** Write `data` to `file` through a temp file and a rename (no half-written file on failure). */
function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Render the HIP defaults' runtime sources of every family instance at HIP_DEFAULT_WAVES into `outDir`
 * (module doc). Variants a wave rejects are left out (the runtime then says none is built).
 * @returns the manifest written to outDir/manifest.json.
 * @throws Error when outDir cannot be written.
 */
export function writeHipDefaultSources(outDir: string): HipDefaultSourcesManifest {
  fs.mkdirSync(path.join(outDir, 'src'), { recursive: true });
  const sources: HipDefaultSourceRecord[] = [];
  for (const hf of hipFamilies) {
    if (hf.tunedOnly) continue; // used only from a pack entry, whose sources the pack carries
    const params = hipDefaults(hf);
    for (const inst of hipInstances(hf)) {
      for (const wave of HIP_DEFAULT_WAVES) {
        let units: HipSourceUnit[];
        try {
          units = renderRuntimeSources({ hf, inst, params }, wave);
        } catch {
          continue; // rejected at this wave
        }
        for (const u of units) {
          const file = path.join('src', `${u.sha256}.hip`);
          const abs = path.join(outDir, file);
          if (!fs.existsSync(abs)) writeAtomic(abs, u.text);
          sources.push({ family: hf.family.id, instance: inst.key, wave, params, entries: u.entries, sha256: u.sha256, file });
        }
      }
    }
  }
  const manifest: HipDefaultSourcesManifest = { format: HIP_SOURCES_FORMAT, version: HIP_SOURCES_VERSION, createdAt: new Date().toISOString(), waves: [...HIP_DEFAULT_WAVES], sources };
  writeAtomic(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  return manifest;
}
