/**
 * matmul.coopmat's HIP port without a GPU: which targets have which matrix instruction (generator/hip/arch.ts),
 * pruning by target, and that the rendered sources compile to the intended instruction on each target where
 * a compiler for it is installed (each check skips with a message otherwise):
 * - gfx90a (CDNA2, wave64) with hipcc: v_mfma_f32_16x16x16f16, FM*FN*BK/16 per K step;
 * - gfx1100 (RDNA3, wave32) with clang (Debian 12's clang 15 has the gfx11 WMMA builtins but no gfx11 device
 *   libraries, so this compiles to assembly with -nogpulib, no code object): v_wmma_f32_16x16x16_f16;
 * - NVIDIA sm_80 with nvcc (NVRTC's front end is not needed for this; the source gets the same CUDA prelude
 *   native/hip prepends for NVRTC): mma.sync.aligned.m16n8k16, two per fragment; sm_75 fails with the #error;
 * - gfx1030 (RDNA2, no matrix instruction) with hipcc: fails with the #error naming the supported targets.
 * Numerics: test/hip-kernels.test.ts on a HIP / CUDA device.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { archUnbuildable, hipMatrixInstruction, matrixUnsupported } from '../generator/hip/arch';
import { HipCompileError, compileHip, findHipcc } from '../generator/hip/compile';
import { hipDefaults, hipFamily, hipInstance, hipInstances, hipPrunedSpace, hipReject } from '../generator/hip/families';
import { renderHip } from '../generator/hip/render';
import type { Params } from '../generator/schema';

const hf = hipFamily('matmul.coopmat');
const root = path.resolve(__dirname, '..', '..');

/** Run a command; exit code, stdout + stderr (never throws). */
function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as any).code as number) : -1) : 0;
      resolve({ code, out: String(stdout) + String(stderr) });
    });
  });
}
const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;
/** MMAs of one K step of a variant (each a 16x16x16 fragment product). */
const mmasPerStep = (p: Params): number => (p.BM / (p.WM * 16)) * (p.BN / (p.WN * 16)) * (p.BK / 16);
const source = (key: string, wave: number, over: Params = {}): { src: string; p: Params } => {
  const p = { ...hipDefaults(hf, wave), ...over };
  return { src: renderHip({ hf, instance: hipInstance(hf, key), params: p, wave }).source, p };
};
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-coopmat-'));

describe('matmul.coopmat (HIP): targets and pruning', () => {
  it('hipMatrixInstruction: MFMA on CDNA, WMMA on RDNA3, mma.sync on sm_80+, none elsewhere', () => {
    for (const a of ['gfx908', 'gfx90a', 'gfx90a:sramecc+:xnack-', 'gfx940', 'gfx942', 'gfx950']) assert.equal(hipMatrixInstruction(a), 'mfma', a);
    for (const a of ['gfx1100', 'gfx1101', 'gfx1102', 'gfx1103', 'gfx1150', 'gfx1151']) assert.equal(hipMatrixInstruction(a), 'wmma', a);
    for (const a of ['sm_80', 'sm_86', 'sm_89', 'sm_90', 'sm_90a', 'sm_100', 'sm_120']) assert.equal(hipMatrixInstruction(a), 'mma', a);
    for (const a of ['gfx906', 'gfx1010', 'gfx1030', 'gfx1036', 'sm_70', 'sm_75', 'gfx1200', '']) assert.equal(hipMatrixInstruction(a), null, a);
    assert.equal(matrixUnsupported('gfx90a', 64), null);
    assert.match(matrixUnsupported('gfx90a', 32) ?? '', /mfma on gfx90a needs wave64, not wave32/);
    assert.match(matrixUnsupported('gfx1030', 32) ?? '', /no half-precision matrix instruction on gfx1030/);
  });

  it('the pruned space: WG = WM*WN*WAVE, 16x16x16 fragments, no split-K / PRE_B; empty on a target without a matrix instruction', () => {
    for (const wave of [32, 64]) {
      for (const inst of hipInstances(hf)) {
        const { kept } = hipPrunedSpace(hf, inst, wave);
        assert.ok(kept.length > 50, `${inst.key} wave${wave}: ${kept.length} points`);
        assert.ok(kept.every((p) => p.WG === p.WM * p.WN * wave && p.CM === 16 && p.CN === 16 && p.CK === 16 && p.SPLIT_WGS === 0 && p.PRE_B === 0));
        assert.equal(hipReject(hf, inst, hipDefaults(hf, wave), wave), null, `${inst.key}: defaults at wave${wave}`);
      }
    }
    const f16 = hipInstance(hf, 'f16');
    assert.equal(hipPrunedSpace(hf, f16, 32, 65536, 'gfx1030').kept.length, 0);
    assert.equal(hipPrunedSpace(hf, f16, 64, 65536, 'gfx906').kept.length, 0);
    assert.equal(hipPrunedSpace(hf, f16, 32, 65536, 'sm_90').kept.length, hipPrunedSpace(hf, f16, 32).kept.length);
    assert.match(hipReject(hf, f16, { ...hipDefaults(hf), SPLIT_WGS: 128 }, 32) ?? '', /SPLIT_WGS=128 is not implemented by the HIP port/);
    assert.throws(() => hipInstance(hf, 'f32'), /no HIP port of instance "f32"/);
  });
});

describe('matmul.coopmat (HIP): the matrix instruction of each target', async () => {
  const hipcc = await findHipcc();
  const noHipcc = !hipcc ? 'hipcc not installed' : archUnbuildable('gfx90a');
  if (noHipcc) console.log(`# skipping the gfx90a / gfx1030 compile checks: ${noHipcc}`);

  it('gfx90a (hipcc): v_mfma_f32_16x16x16f16, FM*FN*BK/16 per K step, for f16 and a k-quant', { skip: noHipcc || false }, async () => {
    const dis = (await sh('llvm-objdump-15', ['--version'])).code === 0 ? 'llvm-objdump-15' : 'llvm-objdump';
    const dir = tmp();
    try {
      for (const [key, over] of [['f16', {}], ['q4_k', { BK: 64, STAGES: 1 }]] as const) {
        const { src, p } = source(key, 64, over);
        const co = await compileHip(src, 'gfx90a', 64, { hipcc: hipcc!, label: `coopmat ${key}` });
        const f = path.join(dir, `${key}.co`);
        fs.writeFileSync(f, co.bytes);
        const d = await sh(dis, ['-d', '--mcpu=gfx90a', f]);
        assert.equal(d.code, 0, d.out.slice(0, 2000));
        const n = count(d.out, /v_mfma_f32_16x16x16f16/g);
        assert.ok(n > 0 && n % mmasPerStep(p) === 0, `${key}: ${n} MFMAs, ${mmasPerStep(p)} per K step`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gfx1030 (hipcc, no matrix instruction): the source fails with the #error naming the targets that have one', { skip: noHipcc || archUnbuildable('gfx1030') || false }, async () => {
    await assert.rejects(compileHip(source('f16', 32).src, 'gfx1030', 32, { hipcc: hipcc! }), (e: unknown) => e instanceof HipCompileError && /no f16 matrix instruction on this target \(MFMA: gfx908\/gfx90a\/gfx94x; WMMA: gfx11; mma\.sync: sm_80\+\)/.test(e.message));
  });

  // clang with gfx11 support and the HIP headers (Debian 12: clang-15 + hipcc's headers in /usr/include/hip)
  const clang = (await sh('clang-15', ['--version'])).code === 0 ? 'clang-15' : (await sh('clang', ['--version'])).code === 0 ? 'clang' : null;
  const gfx11 = clang ? await sh(clang, ['--target=amdgcn-amd-amdhsa', '-mcpu=gfx1100', '-nogpulib', '-x', 'c', '-E', '/dev/null']) : null;
  const noClang = !clang ? 'no clang on PATH' : gfx11!.code !== 0 ? `${clang} cannot target gfx1100` : fs.existsSync('/usr/include/hip/hip_runtime.h') ? false : 'HIP headers not in /usr/include/hip';
  if (noClang) console.log(`# skipping the gfx1100 WMMA compile check: ${noClang}`);
  it('gfx1100 (clang -nogpulib, assembly only): v_wmma_f32_16x16x16_f16, FM*FN*BK/16 per K step, every instance', { skip: noClang }, async () => {
    const dir = tmp();
    try {
      for (const inst of hipInstances(hf)) {
        const { src, p } = source(inst.key, 32);
        const f = path.join(dir, `${inst.key}.hip`);
        fs.writeFileSync(f, src);
        const r = await sh(clang!, ['-x', 'hip', '--cuda-device-only', '--offload-arch=gfx1100', '-nogpulib', '--rocm-path=/usr', '-O3', '-std=c++17', '-S', '-o', '-', f]);
        assert.equal(r.code, 0, `${inst.key}: ${r.out.slice(0, 3000)}`);
        const n = count(r.out, /v_wmma_f32_16x16x16_f16/g);
        assert.ok(n > 0 && n % mmasPerStep(p) === 0, `${inst.key}: ${n} WMMAs, ${mmasPerStep(p)} per K step`);
        assert.match(r.out, /\.wavefront_size:\s+32/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const nvcc = (await sh('nvcc', ['--version'])).code === 0 ? 'nvcc' : null;
  if (!nvcc) console.log('# skipping the NVIDIA mma.sync compile check: nvcc not installed (the GPU run of test/hip-kernels.test.ts compiles it with NVRTC)');
  it('sm_80 (nvcc, through hip_cuda_prelude.h): two mma.sync.aligned.m16n8k16 per fragment; sm_75 fails with the #error', { skip: nvcc ? false : 'nvcc not installed' }, async () => {
    const prelude = fs.readFileSync(path.join(root, 'templates', 'partials', 'hip_cuda_prelude.h'), 'utf8');
    const dir = tmp();
    try {
      for (const key of ['f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k']) {
        const { src, p } = source(key, 32);
        const f = path.join(dir, `${key}.cu`);
        fs.writeFileSync(f, `${prelude}\n#line 1\n${src}`);
        const flags = ['-std=c++17', '-O3', '-DKPACK_NVRTC=1', '-DKPACK_WARP_SIZE=32', '-ptx', '-o', path.join(dir, `${key}.ptx`), f];
        const r = await sh(nvcc!, ['-arch=sm_80', ...flags]);
        assert.equal(r.code, 0, `${key}: ${r.out.slice(0, 3000)}`);
        const ptx = fs.readFileSync(path.join(dir, `${key}.ptx`), 'utf8');
        const n = count(ptx, /mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32/g);
        assert.ok(n > 0 && n % (2 * mmasPerStep(p)) === 0, `${key}: ${n} mma.sync, ${2 * mmasPerStep(p)} per K step`);
        if (key === 'f16') {
          const old = await sh(nvcc!, ['-arch=sm_75', ...flags]);
          assert.notEqual(old.code, 0);
          assert.match(old.out, /mma\.sync m16n8k16 f16 needs sm_80 or newer/);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
