/**
 * Ahead-of-time AMD code objects from HIP sources with hipcc (`hipcc --genco --no-gpu-bundle-output
 * --offload-arch=gfxXXX -O3`: a plain AMDGPU ELF per arch, not a clang offload bundle;
 * HIP_PLATFORM=amd so a CUDA toolkit on PATH does not switch hipcc to nvcc). Debian 12: packages hipcc
 * 5.2.3 and rocm-device-libs (clang 15); gfx90a and gfx1030 build there, gfx11 does not (no device
 * libraries, see ./arch.ts).
 *
 * Compiler search: $KPACK_HIPCC, then `hipcc` on PATH. Children are bounded by a pool (default
 * os.cpus().length). Optional content-addressed cache (dir/<sha256(hipcc version, args, source)>.co).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { archUnbuildable, hipArch, waveFlags } from './arch';

/** A located hipcc. */
export interface Hipcc {
  /** Executable path or bare name on PATH. */
  path: string;
  /** "HIP version: 5.2.21153-0; Debian clang version 15.0.6" (from --version). */
  version: string;
}

/** A failed hipcc compile; `message` names the variant and the arch and carries hipcc's diagnostics. */
export class HipCompileError extends Error {
  constructor(
    message: string,
    readonly arch: string,
    readonly log: string,
  ) {
    super(message);
    this.name = 'HipCompileError';
  }
}

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

const hipEnv = (): NodeJS.ProcessEnv => ({ ...process.env, HIP_PLATFORM: 'amd', HIP_COMPILER: 'clang' });

function run(cmd: string, args: string[], timeoutMs: number): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: hipEnv(), timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as any).code as number) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? `\n${err.message}` : '') });
    });
  });
}

let found: Promise<Hipcc | null> | null = null;

/**
 * Find hipcc ($KPACK_HIPCC, else PATH) and read its version, once per process.
 * @returns null when none runs (callers skip HIP with a message, or throw via requireHipcc).
 */
export function findHipcc(): Promise<Hipcc | null> {
  found ??= (async () => {
    const cand = process.env.KPACK_HIPCC || 'hipcc';
    const r = await run(cand, ['--version'], 60_000);
    const hip = /HIP version:\s*(\S+)/.exec(r.stdout + r.stderr);
    if (!hip) return null;
    const clang = /(\S*\s*clang version [^\s]+)/.exec(r.stdout + r.stderr);
    return { path: cand, version: `HIP version: ${hip[1]}${clang ? `; ${clang[1].trim()}` : ''}` };
  })();
  return found;
}

/**
 * hipcc, or an Error saying how to install it.
 * @throws Error when no hipcc runs.
 */
export async function requireHipcc(): Promise<Hipcc> {
  const h = await findHipcc();
  if (!h) throw new Error('hipcc not found: apt-get install --no-install-recommends hipcc rocm-device-libs (Debian 12), or set KPACK_HIPCC');
  return h;
}

const poolSize = { n: Math.max(1, os.cpus().length) };
let active = 0;
const queue: Array<() => void> = [];

/** Set the number of hipcc processes run at once (>= 1; default os.cpus().length). */
export function setHipJobs(n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`hip jobs must be a positive integer, got ${n}`);
  poolSize.n = n;
}

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (active >= poolSize.n) await new Promise<void>((r) => queue.push(r));
  active++;
  try {
    return await fn();
  } finally {
    active--;
    queue.shift()?.();
  }
}

/** Options of one compile. */
export interface HipCompileOptions {
  hipcc?: Hipcc;
  /** Cache directory of code objects (none when absent). */
  cacheDir?: string;
  /** Extra hipcc flags (appended). */
  flags?: string[];
  /** Kill hipcc after this long, ms (default 300 000). */
  timeoutMs?: number;
  /** Label for messages, e.g. "matmul.vec/q4_0 {...}". */
  label?: string;
}

/** A compiled code object. */
export interface HipCodeObject {
  /** ELF bytes of the AMDGPU code object (no clang offload bundle; hipModuleLoadData input). */
  bytes: Uint8Array;
  sha256: string;
  /** Whether it came from the cache. */
  cached: boolean;
  /** The hipcc arguments used (without the input/output paths). */
  args: string[];
}

/**
 * Compile one HIP source to an AMDGPU code object for `arch` at wavefront size `wave`.
 * @param source HIP C++ source (from renderHip).
 * @param arch offload arch, e.g. "gfx90a".
 * @param wave 32 or 64; must be one of the arch's wavefront sizes.
 * @throws Error naming the arch when it is unknown or the device libraries cannot build it (e.g. gfx1100
 *   with hipcc 5.2), or when the wave size does not fit the arch; HipCompileError with hipcc's
 *   diagnostics when compilation fails.
 */
export async function compileHip(source: string, arch: string, wave: number, opts: HipCompileOptions = {}): Promise<HipCodeObject> {
  const label = opts.label ? `${opts.label}: ` : '';
  const bad = archUnbuildable(arch);
  if (bad) throw new Error(`${label}${bad}`);
  const args = ['--genco', '--no-gpu-bundle-output', `--offload-arch=${arch}`, '-O3', '-std=c++17', ...waveFlags(hipArch(arch), wave), ...(opts.flags ?? [])];
  const hipcc = opts.hipcc ?? (await requireHipcc());
  const key = createHash('sha256').update(`${hipcc.version}\0${args.join(' ')}\0${source}`).digest('hex');
  const cached = opts.cacheDir ? path.join(opts.cacheDir, `${key}.co`) : null;
  if (cached && fs.existsSync(cached)) {
    const bytes = new Uint8Array(fs.readFileSync(cached));
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), cached: true, args };
  }
  return slot(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-hip-'));
    try {
      const src = path.join(dir, 'kernel.hip');
      const out = path.join(dir, `kernel.${arch}.co`);
      fs.writeFileSync(src, source);
      const r = await run(hipcc.path, [...args, '-o', out, src], opts.timeoutMs ?? 300_000);
      if (r.code !== 0 || !fs.existsSync(out)) {
        const log = (r.stderr + r.stdout).replaceAll(src, 'kernel.hip').trim();
        if (/cannot find ROCm device library for (\S+)/.test(log)) throw new Error(`${label}hipcc cannot build offload arch ${arch}: no ROCm device library for it (${hipcc.version})`);
        throw new HipCompileError(`${label}hipcc failed for ${arch} (wave${wave}, exit ${r.code}):\n${log.split('\n').slice(0, 40).join('\n')}`, arch, log);
      }
      const bytes = new Uint8Array(fs.readFileSync(out));
      if (cached) {
        fs.mkdirSync(path.dirname(cached), { recursive: true });
        const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        fs.writeFileSync(tmp, bytes);
        fs.renameSync(tmp, cached);
      }
      return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), cached: false, args };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
