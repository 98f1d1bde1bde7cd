/**
 * SPIR-V helpers for generator tests: specialize a module with a variant's spec constants (spirv-opt
 * --set-spec-const-default-value --freeze-spec-const --fold-spec-const-op-composite, then spirv-val), and
 * sum the sizes of its Workgroup (shared) variables once every array length is a plain constant, so a
 * family's sharedMemoryBytes() can be checked against what the template really declares.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GlslCompiler } from '../../generator/compile';
import type { SpecConstant } from '../../native/vulkan/api';

/** How to run one SPIR-V tool: the executable and the arguments that precede the tool's own. */
export interface ToolCommand {
  file: string;
  prefix: string[];
}

/**
 * spirv-opt paired with the compiler: the toolchain's (generator/install-glslang.sh unpacks it under
 * .toolchain/glslang/root and runs it through its own loader, as its spirv-val wrapper does), else
 * `spirv-opt` on PATH for a system compiler. Null when none is found.
 */
export function findSpirvOpt(compiler: GlslCompiler): ToolCommand | null {
  if (compiler.spirvVal) {
    const dir = path.dirname(compiler.spirvVal);
    const root = path.join(dir, 'root');
    const bin = path.join(root, 'usr', 'bin', 'spirv-opt');
    const loader = path.join(root, 'usr', 'lib', 'x86_64-linux-gnu', 'ld-linux-x86-64.so.2');
    if (fs.existsSync(bin) && fs.existsSync(loader)) {
      const libs = [path.join(root, 'usr', 'lib', 'x86_64-linux-gnu'), path.join(root, 'lib', 'x86_64-linux-gnu')].join(':');
      return { file: loader, prefix: ['--library-path', libs, bin] };
    }
    if (compiler.origin !== 'path') return null;
  }
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(d, 'spirv-opt');
    if (d && fs.existsSync(p)) return { file: p, prefix: [] };
  }
  return null;
}

function exec(file: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}\n${stderr}`.trim() });
    });
  });
}

/**
 * The module with every spec constant in `consts` frozen to its value and spec-constant expressions
 * folded, validated by `spirvVal` (Vulkan 1.3).
 * @throws Error with the tool's output when specialization or validation fails.
 */
export async function specializeAndValidate(spirv: Uint8Array, consts: SpecConstant[], opt: ToolCommand, spirvVal: string): Promise<Uint8Array> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-spec-'));
  try {
    const src = path.join(dir, 'in.spv');
    const dst = path.join(dir, 'out.spv');
    fs.writeFileSync(src, spirv);
    const values = consts.map((c) => `${c.id}:${c.type === 'bool' ? (c.value ? 'true' : 'false') : c.value}`).join(' ');
    const o = await exec(opt.file, [...opt.prefix, '--set-spec-const-default-value', values, '--freeze-spec-const', '--fold-spec-const-op-composite', src, '-o', dst]);
    if (o.code !== 0) throw new Error(`spirv-opt failed for ${values}: ${o.out}`);
    const v = await exec(spirvVal, ['--target-env', 'vulkan1.3', dst]);
    if (v.code !== 0) throw new Error(`spirv-val failed after specialization ${values}: ${v.out}`);
    return new Uint8Array(fs.readFileSync(dst));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Bytes of all Workgroup-storage variables of a (specialized) module: scalars, vectors and arrays of
 * them, natural sizes without padding (what sharedMemoryBytes() formulas count).
 * @throws Error when an array length is not a plain OpConstant (not specialized / not folded).
 */
export function workgroupBytes(spirv: Uint8Array): number {
  const w = new Uint32Array(spirv.buffer, spirv.byteOffset, spirv.byteLength >>> 2);
  const size = new Map<number, number>();
  const constants = new Map<number, number>();
  const pointee = new Map<number, { storage: number; type: number }>();
  let total = 0;
  for (let i = 5; i < w.length; ) {
    const count = w[i] >>> 16;
    const op = w[i] & 0xffff;
    if (count === 0) throw new Error('malformed SPIR-V');
    const a = (k: number) => w[i + k];
    switch (op) {
      case 21: // OpTypeInt result width signedness
      case 22: // OpTypeFloat result width
        size.set(a(1), a(2) / 8);
        break;
      case 23: // OpTypeVector result component count
        size.set(a(1), (size.get(a(2)) ?? NaN) * a(3));
        break;
      case 43: // OpConstant type result value
        constants.set(a(2), a(3));
        break;
      case 28: {
        // OpTypeArray result element lengthId
        const len = constants.get(a(3));
        if (len === undefined) {
          size.set(a(1), NaN);
        } else size.set(a(1), (size.get(a(2)) ?? NaN) * len);
        break;
      }
      case 32: // OpTypePointer result storage type
        pointee.set(a(1), { storage: a(2), type: a(3) });
        break;
      case 59: {
        // OpVariable type result storage
        const ptr = pointee.get(a(1));
        if (a(3) === 4 && ptr) {
          const s = size.get(ptr.type);
          if (s === undefined || Number.isNaN(s)) throw new Error(`workgroup variable %${a(2)} has no constant size (array length not specialized?)`);
          total += s;
        }
        break;
      }
    }
    i += count;
  }
  return total;
}
