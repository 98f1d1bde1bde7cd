/**
 * The HIP generator stage: choose variants (family defaults plus a deterministic sample of each pruned
 * space, or every point), render them, compile one AMD code object per (variant, arch) with hipcc and
 * write a pack-ready bundle:
 *
 *   <outDir>/hip-manifest.json     family, instance, params, wave, arch, entries, argument list,
 *                                  sha256 of the code object and of the source, per variant and arch
 *   <outDir>/co/<sha256>.co        AMDGPU code objects (ELF; hipModuleLoadData input)
 *   <outDir>/src/<sha256>.hip      the rendered sources (also what NVRTC compiles for CUDA)
 *
 * Every file is written atomically (temp file + rename). Archs are checked before anything compiles.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { handlebarsVersion } from '../render';
import { type Params, type TemplateInstance, entryAbi } from '../schema';
import { archUnbuildable, hipArch, matrixUnsupported } from './arch';
import { type Hipcc, compileHip, requireHipcc, setHipJobs } from './compile';
import { type KernelMeta, kernelMetadata } from './metadata';
import { type HipFamily, hipArgs, hipDefaults, hipFamilies, hipInstances, hipPrunedSpace, hipReject } from './families';
import { renderHip } from './render';

export const HIP_MANIFEST_VERSION = 1;
/** File name of the bundle manifest inside the output directory. */
export const HIP_MANIFEST = 'hip-manifest.json';
/** Sampled points per (family, instance, wave) added to the defaults when neither `sample` nor `all` is given. */
export const DEFAULT_HIP_SAMPLE = 2;

/** One code object of the bundle. */
export interface HipManifestVariant {
  family: string;
  op: string;
  instance: string;
  /** Launch-contract version of the Vulkan family's entries (schema entryAbi): same bindings and push order. */
  abi: number;
  /** Tuned parameters (generator/hip/families.ts hipParamNames). */
  params: Params;
  /** Whether these are the family defaults. */
  isDefault: boolean;
  wave: number;
  arch: string;
  /** Workgroup size [x, y, z] (threads) and static LDS bytes (the family's sharedMemoryBytes formula). */
  workgroupSize: [number, number, number];
  sharedMemoryBytes: number;
  /** One extern "C" kernel per dispatch point (plan() specOverrides -> entry name), with its resource usage
   * from the code object's metadata (null when llvm-readelf is not installed). */
  entries: Array<{ name: string; dispatch: Params; resources: KernelMeta | null }>;
  /** Kernel arguments in order: binding pointers, then push-constant scalars. */
  args: Array<{ name: string; kind: 'ptr' | 'u32' | 'f32' }>;
  source: { sha256: string; file: string };
  codeObject: { sha256: string; file: string; bytes: number };
}

/** The bundle manifest (hip-manifest.json). */
export interface HipManifest {
  formatVersion: number;
  backend: 'hip';
  createdAt: string;
  toolchain: { hipcc: string; hipccPath: string; handlebars: string; flags: string[] };
  archs: string[];
  selection: { sample: number; all: boolean };
  variants: HipManifestVariant[];
  /**
   * (family, instance, wave) combinations whose defaults the wave rejects, and (with `arch`) matrix
   * families on an arch without a matrix instruction (./arch.ts matrixUnsupported), with the reason.
   */
  skipped: Array<{ family: string; instance: string; wave: number; arch?: string; reason: string }>;
}

/** Options of generateHip. */
export interface HipGenerateOptions {
  outDir: string;
  /** Offload archs, e.g. ["gfx90a", "gfx1030"]. */
  archs: string[];
  /** Families (default: every HIP family). */
  families?: readonly HipFamily[];
  /** Instance keys to build (default: every ported instance). */
  instances?: string[];
  /** Sampled points per (family, instance, wave) besides the defaults (default DEFAULT_HIP_SAMPLE). */
  sample?: number;
  /** Every point of every pruned space (ignores `sample`). */
  all?: boolean;
  /** Also build the non-native wavefront sizes HipArch.waves lists (none with hipcc 5.2). */
  allWaves?: boolean;
  /** Dispatch points to build per family (default: all valid ones); e.g. a reduced set for tests. */
  dispatch?: (hf: HipFamily) => Params[] | undefined;
  /** hipcc processes at once (default os.cpus().length). */
  jobs?: number;
  cacheDir?: string;
  hipcc?: Hipcc;
  log?: (msg: string) => void;
}

/** 32-bit FNV-1a of a string (sampling seed). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** mulberry32 PRNG: uniform floats in [0, 1), deterministic for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sameParams = (a: Params, b: Params): boolean => Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);

/**
 * The variants built for one (family, instance, wave): the defaults (when the wave accepts them) plus
 * `sample` distinct points of the pruned space drawn by a PRNG seeded with "family/instance/wave" (so
 * the same on every machine and run), or every point when `all`.
 * @returns points in order (defaults first) and, when the defaults are rejected, why.
 */
export function selectHipVariants(hf: HipFamily, inst: TemplateInstance, wave: number, sample: number, all = false): { points: Params[]; defaultsRejected: string | null } {
  const defaults = hipDefaults(hf, wave);
  const defaultsRejected = hipReject(hf, inst, defaults, wave);
  const { kept } = hipPrunedSpace(hf, inst, wave);
  if (all) return { points: kept, defaultsRejected };
  const pool = kept.filter((p) => !sameParams(p, defaults));
  const rand = prng(fnv1a(`${hf.family.id}/${inst.key}/wave${wave}`));
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return { points: [...(defaultsRejected ? [] : [defaults]), ...pool.slice(0, Math.max(0, sample))], defaultsRejected };
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Render and compile the selected variants for every arch and write the bundle (see the module doc).
 * @returns the manifest written.
 * @throws Error naming the arch when an arch is unknown or cannot be built with the installed hipcc /
 *   device libraries (checked before compiling anything); Error when hipcc is missing; HipCompileError
 *   (naming family, instance, params and arch, with hipcc's diagnostics) when a variant fails to compile.
 */
export async function generateHip(opts: HipGenerateOptions): Promise<HipManifest> {
  const log = opts.log ?? (() => undefined);
  if (!opts.archs.length) throw new Error('generateHip: no offload arch given');
  for (const a of opts.archs) {
    const why = archUnbuildable(a);
    if (why) throw new Error(why);
  }
  const hipcc = opts.hipcc ?? (await requireHipcc());
  if (opts.jobs) setHipJobs(opts.jobs);
  const sample = opts.sample ?? DEFAULT_HIP_SAMPLE;
  const fams = opts.families ?? hipFamilies;
  // wave -> archs that build it
  const byWave = new Map<number, string[]>();
  for (const a of opts.archs) {
    const arch = hipArch(a);
    for (const w of opts.allWaves ? arch.waves : arch.waves.slice(0, 1)) byWave.set(w, [...(byWave.get(w) ?? []), a]);
  }
  const skipped: HipManifest['skipped'] = [];
  const jobs: Array<Promise<HipManifestVariant>> = [];
  for (const hf of fams) {
    for (const inst of hipInstances(hf)) {
      if (opts.instances && !opts.instances.includes(inst.key)) continue;
      for (const [wave, waveArchs] of byWave) {
        const archs = waveArchs.filter((arch) => {
          const why = hf.matrix ? matrixUnsupported(arch, wave) : null;
          if (why) skipped.push({ family: hf.family.id, instance: inst.key, wave, arch, reason: why });
          return !why;
        });
        if (!archs.length) continue;
        const { points, defaultsRejected } = selectHipVariants(hf, inst, wave, sample, opts.all);
        if (defaultsRejected) skipped.push({ family: hf.family.id, instance: inst.key, wave, reason: `defaults rejected: ${defaultsRejected}` });
        const defaults = hipDefaults(hf, wave);
        for (const params of points) {
          const r = renderHip({ hf, instance: inst, params, wave, dispatch: opts.dispatch?.(hf) });
          const srcFile = path.join('src', `${r.sourceSha256}.hip`);
          writeAtomic(path.join(opts.outDir, srcFile), r.source);
          const full = { ...hf.family.defaults, ...params };
          for (const arch of archs) {
            const label = `${hf.family.id}/${inst.key} ${JSON.stringify(params)} ${arch} wave${wave}`;
            jobs.push(
              compileHip(r.source, arch, wave, { hipcc, cacheDir: opts.cacheDir, label }).then(async (co) => {
                const meta = await kernelMetadata(co.bytes);
                const entries = r.entries.map((e) => {
                  const m = meta ? meta.find((k) => k.name === e.name) : null;
                  if (meta && !m) throw new Error(`${label}: code object lacks kernel ${e.name}`);
                  return { ...e, resources: m ?? null };
                });
                const coFile = path.join('co', `${co.sha256}.co`);
                const abs = path.join(opts.outDir, coFile);
                if (!fs.existsSync(abs)) writeAtomic(abs, co.bytes);
                log(`compiled ${label} (${r.entries.length} entries, ${co.bytes.length} bytes${co.cached ? ', cached' : ''})`);
                return {
                  family: hf.family.id,
                  op: hf.family.op,
                  instance: inst.key,
                  abi: entryAbi(hf.family, inst.key),
                  params,
                  isDefault: sameParams(params, defaults),
                  wave,
                  arch,
                  workgroupSize: hf.family.workgroupSize(full),
                  sharedMemoryBytes: hf.family.sharedMemoryBytes(full, inst),
                  entries,
                  args: hipArgs(hf),
                  source: { sha256: r.sourceSha256, file: srcFile },
                  codeObject: { sha256: co.sha256, file: coFile, bytes: co.bytes.length },
                };
              }),
            );
          }
        }
      }
    }
  }
  const variants = await Promise.all(jobs);
  const manifest: HipManifest = {
    formatVersion: HIP_MANIFEST_VERSION,
    backend: 'hip',
    createdAt: new Date().toISOString(),
    toolchain: { hipcc: hipcc.version, hipccPath: hipcc.path, handlebars: handlebarsVersion(), flags: ['--genco', '--no-gpu-bundle-output', '-O3', '-std=c++17'] },
    archs: [...opts.archs],
    selection: { sample, all: !!opts.all },
    variants,
    skipped,
  };
  writeAtomic(path.join(opts.outDir, HIP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * Read <dir>/hip-manifest.json.
 * @throws Error when missing, unparsable, of another format version, or a listed code object is missing.
 */
export function loadHipManifest(dir: string): HipManifest {
  const file = path.join(dir, HIP_MANIFEST);
  let m: HipManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read HIP manifest ${file}: ${(e as Error).message}`);
  }
  if (m.formatVersion !== HIP_MANIFEST_VERSION || m.backend !== 'hip') throw new Error(`HIP manifest ${file}: format ${m.formatVersion}/${m.backend}, expected ${HIP_MANIFEST_VERSION}/hip`);
  for (const v of m.variants) if (!fs.existsSync(path.join(dir, v.codeObject.file))) throw new Error(`HIP manifest ${file}: ${v.family}/${v.instance} ${v.arch}: missing ${v.codeObject.file}`);
  return m;
}
