/**
 * Where the HIP runtime's kernel sources come from (never the template engine): the HIP default-source
 * bundle rendered at build time (`kpack generate`, <kernels>/hip/manifest.json + src/<sha256>.hip;
 * generator/hip/launch.ts HipDefaultSourcesManifest), and the sources stored in a pack's HIP entries
 * (tuner/pack/format.ts HipTunedEntry.sources). A source is looked up by the entry name a launch step
 * needs; its text is read on first use and its sha256 checked.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HIP_SOURCES_FORMAT, HIP_SOURCES_VERSION, type HipDefaultSourceRecord, type HipDefaultSourcesManifest, type HipSourceUnit } from '../../generator/hip/launch';
import type { Params } from '../../generator/schema';

/** The manifest's path in a kernels directory (dist/kernels). */
export const hipSourcesManifestPath = (kernelsDir: string): string => path.join(kernelsDir, 'hip', 'manifest.json');

const sameParams = (a: Params, b: Params): boolean => Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);

/** The HIP default-source bundle of a kernels directory. */
export class HipDefaultSources {
  private readonly byKey = new Map<string, HipDefaultSourceRecord[]>();
  private readonly texts = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly manifest: HipDefaultSourcesManifest,
  ) {
    for (const r of manifest.sources) {
      const k = `${r.family}|${r.instance}|${r.wave}`;
      if (!this.byKey.has(k)) this.byKey.set(k, []);
      this.byKey.get(k)!.push(r);
    }
  }

  /**
   * Read the bundle of `kernelsDir` (its hip/manifest.json).
   * @throws Error naming the file and saying to run `npm run build:kernels` when it is missing, not a
   *   bundle, or of another version.
   */
  static open(kernelsDir: string): HipDefaultSources {
    const file = hipSourcesManifestPath(kernelsDir);
    if (!fs.existsSync(file)) throw new Error(`HIP default kernel sources ${file} are missing: run \`npm run build:kernels\` (kpack generate renders them)`);
    let m: HipDefaultSourcesManifest;
    try {
      m = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message}); run \`npm run build:kernels\` again`);
    }
    if (m?.format !== HIP_SOURCES_FORMAT || m.version !== HIP_SOURCES_VERSION || !Array.isArray(m.sources)) {
      throw new Error(`${file}: not a ${HIP_SOURCES_FORMAT} v${HIP_SOURCES_VERSION} manifest (format ${m?.format}, version ${m?.version}); run \`npm run build:kernels\` again`);
    }
    return new HipDefaultSources(path.dirname(file), m);
  }

  /**
   * The source defining `entry` for the defaults `params` of family/instance at wavefront size `wave`,
   * or null when the bundle has none (a point the defaults reject, a wave not rendered, or a bundle
   * built from other defaults than `params`).
   * @throws Error naming the file when its text is missing or does not hash to its record's sha256.
   */
  find(family: string, instance: string, wave: number, params: Params, entry: string): HipSourceUnit | null {
    const rec = (this.byKey.get(`${family}|${instance}|${wave}`) ?? []).find((r) => r.entries.includes(entry) && sameParams(r.params, params));
    if (!rec) return null;
    let text = this.texts.get(rec.sha256);
    if (text === undefined) {
      const file = path.join(this.dir, rec.file);
      if (!fs.existsSync(file)) throw new Error(`HIP default source ${file} is missing: run \`npm run build:kernels\``);
      text = fs.readFileSync(file, 'utf8');
      const sha = createHash('sha256').update(text).digest('hex');
      if (sha !== rec.sha256) throw new Error(`HIP default source ${file} hashes to ${sha}, not ${rec.sha256}: run \`npm run build:kernels\``);
      this.texts.set(rec.sha256, text);
    }
    return { sha256: rec.sha256, entries: rec.entries, text };
  }
}
