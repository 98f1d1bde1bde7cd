/**
 * Per-kernel resource usage of an AMDGPU code object (ELF), read from its NT_AMDGPU_METADATA note with
 * llvm-readelf (`--notes` prints it as YAML): LDS bytes, registers, spills, scratch, launch bound,
 * wavefront size and kernel-argument bytes. Used to record what each variant costs in the bundle manifest
 * (a tuner can drop spilling variants) and by the tests to check the HIP kernels against the schema.
 *
 * Search: $KPACK_LLVM_READELF, then llvm-readelf-15 and llvm-readelf on PATH (Debian 12: package llvm-15,
 * a dependency of hipcc).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Resource usage of one kernel of a code object. */
export interface KernelMeta {
  name: string;
  /** Static LDS (shared memory), bytes. */
  ldsBytes: number;
  /** Scratch (private) memory per thread, bytes (> 0: register spills or local arrays in memory). */
  scratchBytes: number;
  vgprs: number;
  sgprs: number;
  vgprSpills: number;
  sgprSpills: number;
  /** __launch_bounds__ value: most threads per workgroup. */
  maxThreads: number;
  wave: number;
  /** Kernel-argument bytes (pointers 8, scalars 4). */
  kernargBytes: number;
}

const run = (cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> =>
  new Promise((resolve) => execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ ok: !err, out: String(stdout) + String(stderr) })));

let readelf: Promise<string | null> | null = null;

/** The llvm-readelf to use, or null when none runs (once per process). */
export function findLlvmReadelf(): Promise<string | null> {
  readelf ??= (async () => {
    for (const c of [process.env.KPACK_LLVM_READELF, 'llvm-readelf-15', 'llvm-readelf'].filter((x): x is string => !!x)) {
      if ((await run(c, ['--version'])).ok) return c;
    }
    return null;
  })();
  return readelf;
}

/**
 * Parse llvm-readelf's YAML print of amdhsa.kernels (one `  - .agpr_count:` item per kernel, keys at
 * four spaces of indentation).
 * @throws Error when the text holds no amdhsa.kernels list.
 */
export function parseKernelNotes(text: string): KernelMeta[] {
  const start = text.indexOf('amdhsa.kernels:');
  if (start < 0) throw new Error('no amdhsa.kernels in the code object metadata');
  const body = text.slice(start).split('\n').slice(1);
  const items: Array<Record<string, string>> = [];
  for (const line of body) {
    if (/^\S/.test(line)) break; // next top-level key (amdhsa.target)
    const item = /^ {2}- \.(\w+):\s*(.*)$/.exec(line);
    const key = /^ {4}\.(\w+):\s*(.*)$/.exec(line);
    if (item) items.push({ [item[1]]: item[2].trim() });
    else if (key && items.length) items[items.length - 1][key[1]] = key[2].trim();
  }
  const num = (r: Record<string, string>, k: string): number => (r[k] === undefined ? 0 : Number(r[k]));
  return items.map((r) => ({
    name: r.name,
    ldsBytes: num(r, 'group_segment_fixed_size'),
    scratchBytes: num(r, 'private_segment_fixed_size'),
    vgprs: num(r, 'vgpr_count'),
    sgprs: num(r, 'sgpr_count'),
    vgprSpills: num(r, 'vgpr_spill_count'),
    sgprSpills: num(r, 'sgpr_spill_count'),
    maxThreads: num(r, 'max_flat_workgroup_size'),
    wave: num(r, 'wavefront_size'),
    kernargBytes: num(r, 'kernarg_segment_size'),
  }));
}

/**
 * Kernel metadata of an AMDGPU ELF code object.
 * @returns one entry per kernel, or null when no llvm-readelf is installed.
 * @throws Error when llvm-readelf cannot read the bytes (e.g. a clang offload bundle, not an ELF).
 */
export async function kernelMetadata(codeObject: Uint8Array): Promise<KernelMeta[] | null> {
  const tool = await findLlvmReadelf();
  if (!tool) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-co-'));
  try {
    const f = path.join(dir, 'k.co');
    fs.writeFileSync(f, codeObject);
    const r = await run(tool, ['--notes', f]);
    if (!r.ok) throw new Error(`${tool} --notes failed: ${r.out.replaceAll(f, 'code object').trim()}`);
    return parseKernelNotes(r.out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
