/**
 * GLSL -> SPIR-V compilation with glslangValidator (child processes, bounded by a pool of
 * os.cpus().length), a content-addressed cache and optional spirv-val validation.
 *
 * Compiler search order: $KPACK_GLSLANG, <repo>/.toolchain/glslang/glslangValidator (made by
 * generator/install-glslang.sh), `glslangValidator` on PATH. Each compiler is probed once for the
 * extensions kernels may need (GL_KHR_cooperative_matrix, GL_NV_cooperative_matrix2, GL_EXT_integer_dot_product, GL_EXT_shader_atomic_float).
 * Cache: $KPACK_CACHE/spirv or ~/.cache/kpack/spirv, keyed by sha256(compiler version, args, source).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot, renderInstance } from './render';
import type { KernelFamily, TemplateInstance } from './schema';

/** Extensions probed on every compiler. */
export const PROBED_EXTENSIONS = ['GL_KHR_cooperative_matrix', 'GL_NV_cooperative_matrix2', 'GL_EXT_integer_dot_product', 'GL_EXT_shader_atomic_float'] as const;

export interface GlslCompiler {
  /** Executable path (or bare name resolved through PATH). */
  path: string;
  /** Where it was found. */
  origin: 'env' | 'toolchain' | 'path';
  /** First line of `--version`, e.g. "Glslang Version: 11:15.2.0". */
  version: string;
  /** Probed extension -> whether the compiler accepts it. */
  extensions: Record<string, boolean>;
  /** spirv-val paired with the compiler (same toolchain), or null when none was found. */
  spirvVal: string | null;
}

/** A compile failure; `message` names family/instance and carries the compiler's messages with line numbers. */
export class CompileError extends Error {
  constructor(
    message: string,
    readonly family: string,
    readonly instance: string,
    readonly log: string,
  ) {
    super(message);
    this.name = 'CompileError';
  }
}

const TARGET_ARGS = ['--target-env', 'vulkan1.3', '-S', 'comp'];

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// ---- process pool: at most os.cpus().length children at once ----
const poolSize = Math.max(1, os.cpus().length);
let running = 0;
const waiting: Array<() => void> = [];
async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= poolSize) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function run(file: string, args: string[]): Promise<ExecResult> {
  return withSlot(
    () =>
      new Promise((resolve) => {
        execFile(file, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
          const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as any).code as number) : -1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === -1 ? err.message : '') });
        });
      }),
  );
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-glsl-'));
}

async function probeVersion(file: string): Promise<string | null> {
  const r = await run(file, ['--version']);
  if (r.code !== 0) return null;
  return r.stdout.split('\n')[0].trim() || null;
}

async function acceptsExtension(file: string, ext: string): Promise<boolean> {
  const dir = tmpDir();
  try {
    const src = path.join(dir, 'probe.comp');
    fs.writeFileSync(src, `#version 450\n#extension ${ext} : require\nlayout(local_size_x = 1) in;\nvoid main() {}\n`);
    const r = await run(file, [...TARGET_ARGS, '-o', path.join(dir, 'probe.spv'), src]);
    return r.code === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function which(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

let compilerPromise: Promise<GlslCompiler> | null = null;

/**
 * The GLSL compiler to use (found and probed once per process).
 * @throws Error when no working glslangValidator is found (names the places searched).
 */
export function findCompiler(): Promise<GlslCompiler> {
  compilerPromise ??= (async () => {
    const toolchain = path.join(packageRoot(), '.toolchain', 'glslang');
    const candidates: Array<[string, GlslCompiler['origin']]> = [];
    if (process.env.KPACK_GLSLANG) candidates.push([process.env.KPACK_GLSLANG, 'env']);
    candidates.push([path.join(toolchain, 'glslangValidator'), 'toolchain']);
    const onPath = await which('glslangValidator');
    if (onPath) candidates.push([onPath, 'path']);
    for (const [file, origin] of candidates) {
      if (origin !== 'path' && !fs.existsSync(file)) continue;
      const version = await probeVersion(file);
      if (!version) continue;
      const extensions: Record<string, boolean> = {};
      for (const ext of PROBED_EXTENSIONS) extensions[ext] = await acceptsExtension(file, ext);
      const pairedVal = path.join(path.dirname(file), 'spirv-val');
      const spirvVal = fs.existsSync(pairedVal) ? pairedVal : origin === 'path' ? await which('spirv-val') : null;
      return { path: file, origin, version, extensions, spirvVal };
    }
    throw new Error(`no working glslangValidator found (tried ${candidates.map((c) => c[0]).join(', ') || 'nothing'}); install glslang-tools or run generator/install-glslang.sh`);
  })();
  compilerPromise.catch(() => (compilerPromise = null));
  return compilerPromise;
}

/** Extensions of `required` the compiler does not accept (empty when it can compile the instance). */
export function missingExtensions(compiler: GlslCompiler, required: readonly string[] = []): string[] {
  return required.filter((e) => compiler.extensions[e] !== true);
}

/** Directory of the SPIR-V cache. */
export function spirvCacheDir(): string {
  const root = process.env.KPACK_CACHE ?? path.join(os.homedir(), '.cache', 'kpack');
  return path.join(root, 'spirv');
}

export interface CompileOptions {
  compiler?: GlslCompiler;
  /** Label used when compileGlsl is given a bare source string (family = name, instance = "-"). */
  name?: string;
  /** Cache directory; null disables the cache. Default spirvCacheDir(). */
  cacheDir?: string | null;
  /** Run spirv-val when available (default true). */
  validate?: boolean;
}

export interface CompileJob {
  family: string;
  instance: string;
  source: string;
}

export interface CompileResult {
  spirv: Uint8Array;
  /** sha256 (hex) of the SPIR-V bytes. */
  sha256: string;
  /** Whether the result came from the cache. */
  cached: boolean;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Rewrite temp-file paths in compiler output to "family/instance". */
function cleanLog(log: string, file: string, label: string): string {
  return log.split(file).join(label).trim();
}

/**
 * Compile one GLSL compute shader to SPIR-V (Vulkan 1.3 target).
 * @throws CompileError naming family and instance, with the compiler's (or spirv-val's) messages
 *   and line numbers ("ERROR: family/instance:LINE: ...").
 */
export async function compileGlsl(jobOrSource: CompileJob | string, opts: CompileOptions = {}): Promise<CompileResult> {
  const job: CompileJob = typeof jobOrSource === 'string' ? { family: opts.name ?? 'glsl', instance: '-', source: jobOrSource } : jobOrSource;
  const compiler = opts.compiler ?? (await findCompiler());
  const validate = opts.validate ?? true;
  const cacheDir = opts.cacheDir === undefined ? spirvCacheDir() : opts.cacheDir;
  const key = sha256([compiler.version, TARGET_ARGS.join(' '), validate && compiler.spirvVal ? 'val' : 'noval', job.source].join('\0'));
  const cacheFile = cacheDir ? path.join(cacheDir, `${key}.spv`) : null;
  if (cacheFile && fs.existsSync(cacheFile)) {
    const spirv = new Uint8Array(fs.readFileSync(cacheFile));
    if (spirv.length > 0 && spirv.length % 4 === 0) return { spirv, sha256: sha256(spirv), cached: true };
  }
  const label = `${job.family}/${job.instance}`;
  const dir = tmpDir();
  try {
    const src = path.join(dir, `${job.family}.${job.instance}.comp`.replace(/[^A-Za-z0-9_.-]/g, '_'));
    const out = path.join(dir, 'out.spv');
    fs.writeFileSync(src, job.source);
    const r = await run(compiler.path, [...TARGET_ARGS, '-o', out, src]);
    if (r.code !== 0 || !fs.existsSync(out)) {
      const log = cleanLog(`${r.stdout}\n${r.stderr}`, src, label);
      throw new CompileError(`GLSL compile failed for family ${job.family}, instance ${job.instance}:\n${log}`, job.family, job.instance, log);
    }
    if (validate && compiler.spirvVal) {
      const v = await run(compiler.spirvVal, ['--target-env', 'vulkan1.3', out]);
      if (v.code !== 0) {
        const log = `${v.stdout}\n${v.stderr}`.trim();
        throw new CompileError(`spirv-val failed for family ${job.family}, instance ${job.instance}:\n${log}`, job.family, job.instance, log);
      }
    }
    const spirv = new Uint8Array(fs.readFileSync(out));
    if (cacheFile) {
      fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      fs.writeFileSync(tmp, spirv);
      fs.renameSync(tmp, cacheFile);
    }
    return { spirv, sha256: sha256(spirv), cached: false };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Compile many jobs concurrently (the process pool bounds parallelism); results in job order. */
export function compileAll(jobs: CompileJob[], opts: CompileOptions = {}): Promise<CompileResult[]> {
  return Promise.all(jobs.map((j) => compileGlsl(j, opts)));
}

/**
 * Render and compile one template instance of a family.
 * @throws Error when the compiler lacks an extension the instance requires, CompileError on failure.
 */
export async function compileInstance(family: KernelFamily<any>, instance: TemplateInstance, opts: CompileOptions = {}): Promise<CompileResult> {
  const compiler = opts.compiler ?? (await findCompiler());
  const missing = missingExtensions(compiler, instance.requiresCompilerExtensions);
  if (missing.length) throw new Error(`${family.id}/${instance.key}: compiler ${compiler.version} lacks ${missing.join(', ')}`);
  return compileGlsl({ family: family.id, instance: instance.key, source: renderInstance(family, instance) }, { ...opts, compiler });
}
