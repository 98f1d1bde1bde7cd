/**
 * Tests of the HIP / CUDA back-end (native/hip). Always: the addon loads, says why it is unavailable,
 * throws JS errors (never crashes) and compiles offline with whichever of hiprtc / NVRTC is installed;
 * the prelude compiles under nvcc when a CUDA toolkit is installed. On a machine with a CUDA or HIP
 * device: the kernels of native/hip/smoke-kernels.hip run through the prelude (NVRTC) or hiprtc and
 * are checked exactly, with transfers, fills, timing and error paths.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type HipContext, type KernelFunction, hip, hipLiveObjects, preludePath } from '../native/hip/index';

const root = path.resolve(__dirname, '..', '..');
const KERNELS = fs.readFileSync(path.join(root, 'native', 'hip', 'smoke-kernels.hip'), 'utf8');
const BAD = 'extern "C" __global__ void broken(float* a) { a[0] = undefined_thing_42; }\n';
const ELF = [0x7f, 0x45, 0x4c, 0x46];

/** Runs `code` in a fresh node (the driver registry is per process) with extra environment. */
function child(code: string, env: Record<string, string>): string {
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8', cwd: root });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return r.stdout;
}
const AVAILABLE = `const {hip} = require(${JSON.stringify(path.join(__dirname, '..', 'native', 'hip', 'index.js'))}); console.log(JSON.stringify(hip.available()));`;

function nvcc(): string | undefined {
  for (const p of [process.env.CUDA_PATH && path.join(process.env.CUDA_PATH, 'bin', 'nvcc'), '/usr/local/cuda/bin/nvcc']) {
    if (p && fs.existsSync(p)) return p;
  }
  const r = spawnSync('nvcc', ['--version']);
  return r.status === 0 ? 'nvcc' : undefined;
}

describe('native hip back-end: no device needed', () => {
  it('loads, and available() reports every provider and compiler with a reason', () => {
    const a = hip.available();
    assert.equal(typeof a.ok, 'boolean');
    for (const k of ['cuda', 'hip', 'nvrtc', 'hiprtc'] as const) {
      assert.equal(typeof a[k].ok, 'boolean', k);
      assert.equal(typeof a[k].reason, 'string', k);
      if (!a[k].ok) assert.ok(a[k].reason.length > 0, `${k} unavailable without a reason`);
    }
    if (!a.ok) {
      assert.match(a.reason, /^HIP back-end unavailable: cuda: .+; hip: .+/);
      assert.throws(() => hip.listDevices(), /HIP back-end unavailable/);
      assert.throws(() => hip.createContext(0), /HIP back-end unavailable/);
    } else {
      assert.ok(hip.listDevices().length > 0);
    }
  });

  it('a library without the driver API, or none at all, is an unavailable reason, not a crash', () => {
    const notCuda = JSON.parse(child(AVAILABLE, { KPACK_HIP_PROVIDERS: 'cuda', KPACK_CUDA_LIB: 'libm.so.6' }));
    assert.equal(notCuda.ok, false);
    assert.match(notCuda.cuda.reason, /libm\.so\.6 lacks cuInit/);
    assert.match(notCuda.hip.reason, /disabled by KPACK_HIP_PROVIDERS/);
    const missing = JSON.parse(child(AVAILABLE, { KPACK_HIP_PROVIDERS: 'hip', KPACK_HIP_LIB: '/nonexistent/libamdhip64.so' }));
    if (!missing.hip.ok) assert.match(missing.hip.reason, /not found|hipInit failed|no device/);
  });

  it('bad arguments are TypeErrors / RangeErrors', () => {
    assert.throws(() => hip.createContext('x' as any), TypeError);
    assert.throws(() => hip.createContext(-1), TypeError);
    assert.throws(() => hip.compile(42 as any, { api: 'hip', arch: 'gfx90a' }), TypeError);
    assert.throws(() => hip.compile('x', { api: 'metal' as any, arch: 'gfx90a' }), /options.api must be 'cuda' or 'hip'/);
    assert.throws(() => hip.compile('x', undefined as any), TypeError);
    assert.throws(() => hip.compile('x', { api: 'hip', arch: 'gfx90a', defines: { A: {} as any } }), /defines.A/);
  });

  it('the prelude is found and guards itself', () => {
    const p = preludePath();
    assert.ok(p && fs.existsSync(p), 'templates/partials/hip_cuda_prelude.h not found');
    const text = fs.readFileSync(p!, 'utf8');
    assert.match(text, /#if defined\(__CUDACC__\) && !defined\(__HIP__\)/);
    assert.match(text, /__shfl_xor_sync/);
  });

  it('hiprtc compiles the kernels offline and reports compile errors with the log (when hiprtc is installed)', (t) => {
    const a = hip.available();
    if (!a.hiprtc.ok) return t.skip(`hiprtc unavailable: ${a.hiprtc.reason}`);
    const r = hip.compile(KERNELS, { api: 'hip', arch: 'gfx90a', name: 'smoke-kernels.hip', defines: { UNUSED: 1 } });
    assert.equal(r.format, 'hsaco');
    assert.deepEqual([...r.binary.slice(0, 4)], ELF);
    assert.ok(r.options.includes('--offload-arch=gfx90a'));
    assert.ok(r.options.includes('-DKPACK_WARP_SIZE=64'));
    assert.ok(r.options.includes('-DUNUSED=1'));
    assert.throws(
      () => hip.compile(BAD, { api: 'hip', arch: 'gfx90a', name: 'bad.hip' }),
      (e: any) => e.call === 'hiprtcCompileProgram' && e.code === 6 && /undefined_thing_42/.test(e.log) && /undefined_thing_42/.test(e.message),
    );
  });

  it('NVRTC compiles the kernels through the prelude (when NVRTC is installed), else says it is unavailable', (t) => {
    const a = hip.available();
    if (!a.nvrtc.ok) {
      assert.throws(() => hip.compile(KERNELS, { api: 'cuda', arch: 'sm_90' }), /NVRTC unavailable: .*not found/);
      return t.skip(a.nvrtc.reason);
    }
    const r = hip.compile(KERNELS, { api: 'cuda', arch: 'sm_90', name: 'smoke-kernels.hip' });
    assert.ok(r.format === 'cubin' || r.format === 'ptx');
    if (r.format === 'cubin') assert.deepEqual([...r.binary.slice(0, 4)], ELF);
    assert.ok(r.options.includes('-default-device') && r.options.includes('-DKPACK_NVRTC=1'));
    assert.throws(
      () => hip.compile(BAD, { api: 'cuda', arch: 'sm_90', name: 'bad.hip' }),
      (e: any) => e.call === 'nvrtcCompileProgram' && e.codeName === 'NVRTC_ERROR_COMPILATION' && /bad\.hip\(1\)/.test(e.log) && /undefined_thing_42/.test(e.message),
    );
  });

  it('the driver declarations match cuda.h / hip_runtime_api.h (native/hip/abi_check.cc, where the headers exist)', (t) => {
    const cxx = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
    if (!cxx) return t.skip('no C++ compiler');
    const check = path.join(root, 'native', 'hip', 'abi_check.cc');
    const cudaInc = [process.env.CUDA_PATH && path.join(process.env.CUDA_PATH, 'include'), '/usr/local/cuda/include'].find(
      (d) => d && fs.existsSync(path.join(d, 'cuda.h')),
    );
    const hipInc = [process.env.ROCM_PATH && path.join(process.env.ROCM_PATH, 'include'), '/opt/rocm/include', '/usr/include'].find(
      (d) => d && fs.existsSync(path.join(d, 'hip', 'hiprtc.h')),
    );
    if (!cudaInc && !hipInc) return t.skip('neither cuda.h nor hip/hiprtc.h installed');
    if (cudaInc) execFileSync(cxx, ['-std=c++17', '-fsyntax-only', '-DKPACK_ABI_CUDA', `-I${cudaInc}`, check], { stdio: 'pipe' });
    if (hipInc) execFileSync(cxx, ['-std=c++17', '-fsyntax-only', '-DKPACK_ABI_HIP', '-D__HIP_PLATFORM_AMD__', `-I${hipInc}`, check], { stdio: 'pipe' });
  });

  it('the prelude and kernels compile under nvcc for sm_90 (when a CUDA toolkit is installed)', (t) => {
    const cc = nvcc();
    if (!cc) return t.skip('nvcc not installed');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-prelude-'));
    try {
      const src = path.join(dir, 'k.cu');
      const body = KERNELS.replace(/#include <hip\/[^>]+>/g, '');
      // <cstdint> after the prelude: its typedefs must agree with the host's.
      fs.writeFileSync(src, `${fs.readFileSync(preludePath()!, 'utf8')}\n#line 1 "smoke-kernels.hip"\n${body}\n#include <cstdint>\n`);
      execFileSync(cc, ['-arch=sm_90', '-std=c++17', '-ptx', '-o', path.join(dir, 'k.ptx'), src], { stdio: 'pipe' });
      const ptx = fs.readFileSync(path.join(dir, 'k.ptx'), 'utf8');
      for (const k of ['vadd', 'warp_sum', 'half_double', 'block_reverse']) assert.match(ptx, new RegExp(`\\.entry ${k}\\(`));
      assert.match(ptx, /shfl\.sync\.bfly\.b32/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native hip back-end on a fake CUDA driver (test/support/fake_cuda.cc)', () => {
  it('native/hip/smoke.js passes: context, transfers, compile, launches, timing, errors, destroy', (t) => {
    const cxx = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
    if (!cxx) return t.skip('no C++ compiler to build the fake driver');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-fakecuda-'));
    try {
      const lib = path.join(dir, 'libfakecuda.so');
      execFileSync(cxx, ['-std=c++17', '-shared', '-fPIC', '-O1', '-o', lib, path.join(root, 'test', 'support', 'fake_cuda.cc')]);
      const r = spawnSync(process.execPath, [path.join(root, 'native', 'hip', 'smoke.js')], {
        env: { ...process.env, KPACK_HIP_PROVIDERS: 'cuda', KPACK_CUDA_LIB: lib, KPACK_NVRTC_LIB: lib },
        encoding: 'utf8',
        cwd: root,
      });
      assert.equal(r.status, 0, `smoke.js on the fake driver:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /all checks PASSED/);
      assert.doesNotMatch(r.stdout, /^FAIL/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('native hip back-end on a device', () => {
  let ctx: HipContext;
  let fns: Record<string, KernelFunction>;
  const a = hip.available();
  const skip = a.ok ? false : `no CUDA / HIP device: ${a.reason}`;

  before(() => {
    if (skip) return;
    ctx = hip.createContext(0);
    const m = ctx.compile(KERNELS, { name: 'smoke-kernels.hip' });
    fns = Object.fromEntries(['vadd', 'warp_sum', 'half_double', 'block_reverse'].map((n) => [n, m.fn(n)]));
  });
  after(() => {
    if (ctx) ctx.destroy();
  });

  it('lists devices with sane fields', { skip }, () => {
    const d = ctx.device;
    assert.match(d.arch, /^(sm_\d+|gfx[0-9a-f]+)$/);
    assert.ok(d.warpSize === 32 || d.warpSize === 64);
    assert.ok(d.multiprocessorCount > 0 && d.totalMem > 0 && d.sharedMemPerBlock >= 16384);
    assert.ok(d.sharedMemPerBlockOptin >= d.sharedMemPerBlock);
    assert.equal(fns.warp_sum.info.maxThreadsPerBlock > 0, true);
  });

  it('uploads and downloads with offsets, and fills', { skip }, () => {
    const n = (1 << 20) + 12;
    const buf = ctx.createBuffer(n);
    const data = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);
    ctx.upload(buf, data);
    assert.deepEqual(new Uint8Array(ctx.download(buf, 0, n)), data);
    ctx.upload(buf, new Uint8Array([1, 2, 3]), 5);
    assert.deepEqual([...new Uint8Array(ctx.download(buf, 4, 5))], [data[4], 1, 2, 3, data[8]]);
    ctx.fill(buf, 0xdeadbeef, 8, 16);
    assert.deepEqual([...new Uint32Array(ctx.download(buf, 8, 16))], [0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef]);
    assert.throws(() => ctx.download(buf, n - 2, 4), RangeError);
    assert.throws(() => ctx.upload(buf, new Uint8Array(8), n - 4), RangeError);
    buf.destroy();
    assert.throws(() => ctx.download(buf, 0, 4), /after destroy/);
  });

  it('vadd: exact results over a partial last block', { skip }, () => {
    const n = 100003;
    const x = new Float32Array(n).map((_, i) => i);
    const y = new Float32Array(n).map((_, i) => 2 * i + 1);
    const [ba, bb, bc] = [ctx.createBuffer(n * 4), ctx.createBuffer(n * 4), ctx.createBuffer(n * 4)];
    ctx.upload(ba, x);
    ctx.upload(bb, y);
    ctx.launch(fns.vadd, [Math.ceil(n / 256), 1, 1], [256, 1, 1], [{ buffer: ba }, { buffer: bb }, { buffer: bc }, { u32: n }]);
    const c = new Float32Array(ctx.download(bc, 0, n * 4));
    for (let i = 0; i < n; i++) if (c[i] !== 3 * i + 1) assert.fail(`c[${i}] = ${c[i]}, want ${3 * i + 1}`);
  });

  it('warp_sum: __shfl_xor with width 32 sums each group of 32 exactly', { skip }, () => {
    const n = 4096 + 17;
    const v = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 20);
    const bi = ctx.createBuffer(n * 4);
    const groups = Math.ceil(n / 32);
    const bo = ctx.createBuffer(groups * 4);
    ctx.upload(bi, v);
    ctx.fill(bo, 0);
    ctx.launch(fns.warp_sum, [Math.ceil(n / 256), 1, 1], [256, 1, 1], [{ buffer: bi }, { buffer: bo }, { u32: n }]);
    const out = new Uint32Array(ctx.download(bo, 0, groups * 4));
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let i = g * 32; i < Math.min(n, g * 32 + 32); i++) s = (s + v[i]) >>> 0;
      assert.equal(out[g], s, `group ${g}`);
    }
  });

  it('half_double: __half through cuda_fp16 / hip_fp16', { skip }, () => {
    const n = 1000;
    const x = new Float32Array(n).map((_, i) => i - 500);
    const bx = ctx.createBuffer(n * 4);
    const by = ctx.createBuffer(n * 4);
    ctx.upload(bx, x);
    ctx.launch(fns.half_double, [4, 1, 1], [256, 1, 1], [{ buffer: bx }, { buffer: by }, { u32: n }]);
    assert.deepEqual([...new Float32Array(ctx.download(by, 0, n * 4))], [...x].map((v) => 2 * v));
  });

  it('block_reverse: dynamic shared memory, including the opt-in above 48 KiB', { skip }, () => {
    const blocks = 8;
    const bs = 256;
    const v = new Uint32Array(blocks * bs).map((_, i) => i * 3);
    const bi = ctx.createBuffer(v.byteLength);
    const bo = ctx.createBuffer(v.byteLength);
    ctx.upload(bi, v);
    const want = [...v].map((_, i) => v[Math.floor(i / bs) * bs + bs - 1 - (i % bs)]);
    ctx.launch(fns.block_reverse, [blocks, 1, 1], [bs, 1, 1], [{ buffer: bi }, { buffer: bo }], bs * 4);
    assert.deepEqual([...new Uint32Array(ctx.download(bo, 0, v.byteLength))], want);
    const big = Math.min(ctx.device.sharedMemPerBlockOptin - fns.block_reverse.info.staticSharedBytes, 96 * 1024);
    if (big > 48 * 1024) {
      ctx.fill(bo, 0);
      ctx.launch(fns.block_reverse, [blocks, 1, 1], [bs, 1, 1], [{ buffer: bi }, { buffer: bo }], big);
      assert.deepEqual([...new Uint32Array(ctx.download(bo, 0, v.byteLength))], want);
    }
    assert.throws(
      () => ctx.launch(fns.block_reverse, [1, 1, 1], [bs, 1, 1], [{ buffer: bi }, { buffer: bo }], ctx.device.sharedMemPerBlockOptin + 1),
      RangeError,
    );
  });

  it('times launches with events and records monotonic timestamps', { skip }, () => {
    const n = 1 << 20;
    const [ba, bb, bc] = [ctx.createBuffer(n * 4), ctx.createBuffer(n * 4), ctx.createBuffer(n * 4)];
    const args = [{ buffer: ba }, { buffer: bb }, { buffer: bc }, { u32: n }];
    const ns = ctx.time(fns.vadd, [n / 256, 1, 1], [256, 1, 1], args, 20);
    assert.ok(ns > 0 && ns < 1e9, `vadd took ${ns} ns`);
    ctx.timestamp();
    ctx.launch(fns.vadd, [n / 256, 1, 1], [256, 1, 1], args);
    ctx.timestamp();
    ctx.launch(fns.vadd, [n / 256, 1, 1], [256, 1, 1], args);
    ctx.timestamp();
    const ts = ctx.timestamps();
    assert.equal(ts.length, 3);
    assert.ok(ts[0] === 0 && ts[1] > 0 && ts[2] >= ts[1], `timestamps ${[...ts]}`);
    assert.equal(ctx.timestamps().length, 0);
  });

  it('loads a precompiled module (the offline compile for this device)', { skip }, (t) => {
    const d = ctx.device;
    const which = d.api === 'cuda' ? a.nvrtc : a.hiprtc;
    if (!which.ok) return t.skip(which.reason);
    const r = hip.compile(KERNELS, { api: d.api, arch: d.api === 'cuda' ? d.arch : d.archFull, warpSize: d.warpSize });
    const m = ctx.loadModule(r.binary);
    const f = m.fn('vadd');
    const b = ctx.createBuffer(16);
    ctx.upload(b, new Float32Array([1, 2, 3, 4]));
    ctx.launch(f, [1, 1, 1], [4, 1, 1], [{ buffer: b }, { buffer: b }, { buffer: b }, { u32: 4 }]);
    assert.deepEqual([...new Float32Array(ctx.download(b, 0, 16))], [2, 4, 6, 8]);
    m.destroy();
    assert.throws(() => ctx.launch(f, [1, 1, 1], [4, 1, 1], []), /Module was destroyed/);
  });

  it('reports compile, lookup and launch errors as exceptions', { skip }, () => {
    assert.throws(
      () => ctx.compile(BAD, { name: 'bad.hip' }),
      (e: any) => /CompileProgram/.test(e.call) && /undefined_thing_42/.test(e.log) && /undefined_thing_42/.test(e.message),
    );
    const m = ctx.compile(KERNELS);
    assert.throws(() => m.fn('no_such_kernel'), (e: any) => /ModuleGetFunction/.test(e.call) && /no_such_kernel/.test(e.message));
    const b = ctx.createBuffer(64);
    assert.throws(() => ctx.launch(fns.vadd, [1, 1, 1], [4096, 1, 1], []), RangeError);
    assert.throws(() => ctx.launch(fns.vadd, [0, 1, 1], [1, 1, 1], []), RangeError);
    assert.throws(() => ctx.launch(fns.vadd, [1, 1, 1], [1, 1, 1], [{ nope: 1 } as any]), TypeError);
    if (fns.vadd.info.paramSizes) {
      assert.deepEqual(fns.vadd.info.paramSizes, [8, 8, 8, 4]);
      assert.throws(() => ctx.launch(fns.vadd, [1, 1, 1], [1, 1, 1], [{ buffer: b }]), /takes 4 parameter/);
      assert.throws(() => ctx.launch(fns.vadd, [1, 1, 1], [1, 1, 1], [{ buffer: b }, { buffer: b }, { buffer: b }, { u64: 1 }]), TypeError);
    }
    const other = hip.createContext(0);
    try {
      assert.throws(() => other.download(b, 0, 4), /another Context/);
    } finally {
      other.destroy();
    }
    m.destroy();
    b.destroy();
  });

  it('destroy() releases everything and later use throws', { skip }, () => {
    const before = hipLiveObjects();
    const c = hip.createContext(0);
    const b = c.createBuffer(1024);
    const m = c.compile(KERNELS);
    const f = m.fn('vadd');
    for (let i = 0; i < 200; i++) c.createBuffer(4096).destroy();
    c.destroy();
    c.destroy();
    assert.throws(() => c.createBuffer(4), /after destroy/);
    assert.throws(() => c.launch(f, [1, 1, 1], [1, 1, 1], []), /after destroy/);
    assert.throws(() => m.fn('vadd'), /Context was destroyed/);
    b.destroy();
    assert.deepEqual(hipLiveObjects(), before);
  });
});
