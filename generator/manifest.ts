/**
 * The generator stage: render and compile every instance of every family into
 * <outDir>/spirv/<sha256>.spv and describe them in <outDir>/manifest.json (written atomically).
 *
 * Instances the compiler cannot build (missing GLSL extension, e.g. coopmat on glslang < 14) or
 * that the given device limits cannot run are listed as skipped with a reason, never fatal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CompileOptions, compileInstance, findCompiler, missingExtensions } from './compile';
import { families as allFamilies } from './families';
import { instanceUnsupported } from './prune';
import { handlebarsVersion } from './render';
import type { DeviceLimits, KernelFamily, ParamSpec, Params } from './schema';

export const MANIFEST_VERSION = 1;

export interface ManifestInstance {
  key: string;
  defines: Record<string, string | number | boolean>;
  /** sha256 (hex) of the SPIR-V; file spirv/<sha256>.spv. */
  spirv: string;
  bytes: number;
}

export interface ManifestFamily {
  id: string;
  op: string;
  template: string;
  params: Array<Pick<ParamSpec, 'name' | 'values' | 'specId' | 'doc'> & { type: string }>;
  defaults: Params;
  bindings: Array<{ name: string; access: string }>;
  pushConstantBytes: number;
  instances: ManifestInstance[];
  skipped: Array<{ key: string; reason: string }>;
}

export interface Manifest {
  formatVersion: number;
  createdAt: string;
  toolchain: { glslang: string; glslangPath: string; handlebars: string; extensions: Record<string, boolean> };
  families: ManifestFamily[];
}

export interface GenerateOptions {
  outDir: string;
  /** When given, instances whose requiresDevice features the device lacks are skipped. */
  limits?: DeviceLimits;
  /** Families to generate (default: the whole registry). */
  families?: KernelFamily<any>[];
  compile?: CompileOptions;
  /** Progress/warning sink (default: console.warn for warnings only). */
  log?: (msg: string) => void;
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Render + compile every instance; write SPIR-V files and manifest.json.
 * @returns the manifest written.
 * @throws CompileError (naming family, instance and compiler message) when an instance fails to compile.
 */
export async function generate(opts: GenerateOptions): Promise<Manifest> {
  const log = opts.log ?? ((m: string) => (m.startsWith('warning') ? console.warn(m) : undefined));
  const compiler = opts.compile?.compiler ?? (await findCompiler());
  const spirvDir = path.join(opts.outDir, 'spirv');
  fs.mkdirSync(spirvDir, { recursive: true });
  const fams = opts.families ?? allFamilies;
  const out: ManifestFamily[] = await Promise.all(
    fams.map(async (f) => {
      const skipped: ManifestFamily['skipped'] = [];
      const built = await Promise.all(
        f.instances.map(async (inst) => {
          const missing = missingExtensions(compiler, inst.requiresCompilerExtensions);
          const why = missing.length
            ? `compiler ${compiler.version} lacks ${missing.join(', ')} (run generator/install-glslang.sh)`
            : opts.limits
              ? instanceUnsupported(inst, opts.limits)
              : null;
          if (why) {
            log(`warning: skipping ${f.id}/${inst.key}: ${why}`);
            skipped.push({ key: inst.key, reason: why });
            return null;
          }
          const r = await compileInstance(f, inst, { ...opts.compile, compiler });
          const file = path.join(spirvDir, `${r.sha256}.spv`);
          if (!fs.existsSync(file)) writeAtomic(file, r.spirv);
          log(`compiled ${f.id}/${inst.key}${r.cached ? ' (cached)' : ''}`);
          return { key: inst.key, defines: inst.defines, spirv: r.sha256, bytes: r.spirv.length } as ManifestInstance;
        }),
      );
      return {
        id: f.id,
        op: f.op,
        template: f.template,
        params: f.params.map((p) => ({ name: p.name, values: [...p.values], specId: p.specId, type: p.type ?? 'u32', doc: p.doc })),
        defaults: { ...f.defaults },
        bindings: f.bindings.map((b) => ({ ...b })),
        pushConstantBytes: f.pushConstantBytes,
        instances: built.filter((x): x is ManifestInstance => x !== null),
        skipped,
      };
    }),
  );
  const manifest: Manifest = {
    formatVersion: MANIFEST_VERSION,
    createdAt: new Date().toISOString(),
    toolchain: { glslang: compiler.version, glslangPath: compiler.path, handlebars: handlebarsVersion(), extensions: { ...compiler.extensions } },
    families: out,
  };
  writeAtomic(path.join(opts.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * Read <dir>/manifest.json.
 * @throws Error when missing, unparsable or of another format version.
 */
export function loadManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read kernel manifest ${file}: ${(e as Error).message}`);
  }
  if (m.formatVersion !== MANIFEST_VERSION) throw new Error(`kernel manifest ${file}: format version ${m.formatVersion}, expected ${MANIFEST_VERSION}`);
  return m;
}

/** SPIR-V bytes of a manifest instance (`sha256` from ManifestInstance.spirv). @throws Error if the file is missing. */
export function readSpirv(dir: string, sha256: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(path.join(dir, 'spirv', `${sha256}.spv`)));
}
