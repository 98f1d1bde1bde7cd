#!/usr/bin/env node
// Smoke test of the HIP / CUDA back-end on a GPU machine. From the repo root, after `npx node-gyp rebuild`:
//   node native/hip/smoke.js
// Prints the availability, the devices, then compiles native/hip/smoke-kernels.hip (NVRTC through
// templates/partials/hip_cuda_prelude.h on NVIDIA, hiprtc on AMD), runs each kernel on device 0 and
// prints one PASS / FAIL line per check. Exit code: 0 when every check passed, 1 otherwise, 2 when
// the back-end is unavailable. Needs only the addon (not the TypeScript build).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const addon = require(process.env.KPACK_HIP_ADDON || path.join(root, 'build', 'Release', 'kpack_hip.node'));
addon.setPrelude(fs.readFileSync(path.join(root, 'templates', 'partials', 'hip_cuda_prelude.h'), 'utf8'));
const KERNELS = fs.readFileSync(path.join(__dirname, 'smoke-kernels.hip'), 'utf8');

let failed = 0;
function check(name, fn) {
  const t0 = process.hrtime.bigint();
  try {
    const note = fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`PASS ${name}${note ? ` (${note})` : ''} [${ms.toFixed(1)} ms]`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    for (const k of ['api', 'call', 'code', 'codeName']) if (e && e[k] !== undefined) console.log(`     ${k}: ${e[k]}`);
  }
}
function eq(got, want, what) {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) throw new Error(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
}

const avail = addon.available();
console.log('available:', JSON.stringify(avail, null, 2));
if (!avail.ok) process.exit(2);
const devices = addon.listDevices();
for (const d of devices) console.log('device:', JSON.stringify(d));

const ctx = addon.createContext(0);
const dev = ctx.device;
let mod;
const fns = {};
check(`compile smoke-kernels.hip for ${dev.archFull} (${dev.api === 'cuda' ? 'NVRTC + prelude' : 'hiprtc'})`, () => {
  mod = ctx.compile(KERNELS, { name: 'smoke-kernels.hip' });
  for (const n of ['vadd', 'warp_sum', 'half_double', 'block_reverse']) fns[n] = mod.fn(n);
  return `${mod.format}; vadd ${JSON.stringify(fns.vadd.info)}${mod.log ? `; log: ${mod.log.trim()}` : ''}`;
});
if (!mod) process.exit(1);

check('upload / download round trip with offsets (1 MiB + 12 B)', () => {
  const n = (1 << 20) + 12;
  const b = ctx.createBuffer(n);
  const data = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);
  ctx.upload(b, data);
  eq(new Uint8Array(ctx.download(b, 0, n)), data, 'roundtrip');
  ctx.upload(b, new Uint8Array([1, 2, 3]), 5);
  eq(new Uint8Array(ctx.download(b, 4, 5)), [data[4], 1, 2, 3, data[8]], 'offset');
  ctx.fill(b, 0xdeadbeef, 8, 8);
  eq(new Uint32Array(ctx.download(b, 8, 8)), [0xdeadbeef, 0xdeadbeef], 'fill');
  b.destroy();
});

check('vadd (n = 100003)', () => {
  const n = 100003;
  const x = new Float32Array(n).map((_, i) => i);
  const y = new Float32Array(n).map((_, i) => 2 * i + 1);
  const [a, b, c] = [ctx.createBuffer(n * 4), ctx.createBuffer(n * 4), ctx.createBuffer(n * 4)];
  ctx.upload(a, x);
  ctx.upload(b, y);
  ctx.launch(fns.vadd, [Math.ceil(n / 256), 1, 1], [256, 1, 1], [{ buffer: a }, { buffer: b }, { buffer: c }, { u32: n }]);
  eq(new Float32Array(ctx.download(c, 0, n * 4)), x.map((v, i) => v + y[i]), 'c');
  const ns = ctx.time(fns.vadd, [Math.ceil(n / 256), 1, 1], [256, 1, 1], [{ buffer: a }, { buffer: b }, { buffer: c }, { u32: n }], 50);
  if (!(ns > 0)) throw new Error(`time() = ${ns}`);
  return `${(ns / 1000).toFixed(2)} us per launch, ${((3 * n * 4) / ns).toFixed(1)} GB/s`;
});

check('warp_sum (__shfl_xor width 32)', () => {
  const n = 4096 + 17;
  const v = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 20);
  const groups = Math.ceil(n / 32);
  const bi = ctx.createBuffer(n * 4);
  const bo = ctx.createBuffer(groups * 4);
  ctx.upload(bi, v);
  ctx.fill(bo, 0);
  ctx.launch(fns.warp_sum, [Math.ceil(n / 256), 1, 1], [256, 1, 1], [{ buffer: bi }, { buffer: bo }, { u32: n }]);
  const want = new Uint32Array(groups);
  for (let i = 0; i < n; i++) want[i >> 5] = (want[i >> 5] + v[i]) >>> 0;
  eq(new Uint32Array(ctx.download(bo, 0, groups * 4)), want, 'sums');
});

check('half_double (__half)', () => {
  const n = 1000;
  const x = new Float32Array(n).map((_, i) => i - 500);
  const bx = ctx.createBuffer(n * 4);
  const by = ctx.createBuffer(n * 4);
  ctx.upload(bx, x);
  ctx.launch(fns.half_double, [4, 1, 1], [256, 1, 1], [{ buffer: bx }, { buffer: by }, { u32: n }]);
  eq(new Float32Array(ctx.download(by, 0, n * 4)), x.map((v) => 2 * v), 'y');
});

check('block_reverse (dynamic shared memory, 1 KiB and the opt-in size)', () => {
  const blocks = 8;
  const bs = 256;
  const v = new Uint32Array(blocks * bs).map((_, i) => i * 3);
  const bi = ctx.createBuffer(v.byteLength);
  const bo = ctx.createBuffer(v.byteLength);
  ctx.upload(bi, v);
  const want = v.map((_, i) => v[Math.floor(i / bs) * bs + bs - 1 - (i % bs)]);
  ctx.launch(fns.block_reverse, [blocks, 1, 1], [bs, 1, 1], [{ buffer: bi }, { buffer: bo }], bs * 4);
  eq(new Uint32Array(ctx.download(bo, 0, v.byteLength)), want, 'out');
  const big = Math.min(dev.sharedMemPerBlockOptin - fns.block_reverse.info.staticSharedBytes, 96 * 1024);
  if (big > 48 * 1024) {
    ctx.fill(bo, 0);
    ctx.launch(fns.block_reverse, [blocks, 1, 1], [bs, 1, 1], [{ buffer: bi }, { buffer: bo }], big);
    eq(new Uint32Array(ctx.download(bo, 0, v.byteLength)), want, 'out (opt-in)');
  }
  return `opt-in launch with ${big} B`;
});

check('timestamps', () => {
  const n = 1 << 22;
  const [a, b, c] = [ctx.createBuffer(n * 4), ctx.createBuffer(n * 4), ctx.createBuffer(n * 4)];
  const args = [{ buffer: a }, { buffer: b }, { buffer: c }, { u32: n }];
  ctx.timestamp();
  for (let i = 0; i < 10; i++) ctx.launch(fns.vadd, [n / 256, 1, 1], [256, 1, 1], args);
  ctx.timestamp();
  const ts = ctx.timestamps();
  if (ts.length !== 2 || !(ts[1] > 0)) throw new Error(`timestamps ${[...ts]}`);
  return `10 x vadd(4M) in ${(ts[1] / 1000).toFixed(1)} us, ${((10 * 3 * n * 4) / ts[1]).toFixed(0)} GB/s`;
});

check('compile error carries the compiler log', () => {
  try {
    ctx.compile('extern "C" __global__ void broken(float* a) { a[0] = undefined_thing_42; }', { name: 'bad.hip' });
  } catch (e) {
    if (!/undefined_thing_42/.test(e.log || '') || !/CompileProgram/.test(e.call)) throw e;
    return e.message.split('\n')[0];
  }
  throw new Error('no exception');
});

check('launch argument checks', () => {
  const b = ctx.createBuffer(64);
  let msg = 'paramSizes not reported by this driver';
  if (fns.vadd.info.paramSizes) {
    try {
      ctx.launch(fns.vadd, [1, 1, 1], [1, 1, 1], [{ buffer: b }]);
      throw new Error('no exception for a missing argument');
    } catch (e) {
      if (!/takes 4 parameter/.test(e.message)) throw e;
      msg = e.message;
    }
  }
  b.destroy();
  return msg;
});

check('offline compile + loadModule', () => {
  const r = addon.compile(KERNELS, { api: dev.api, arch: dev.api === 'cuda' ? dev.arch : dev.archFull, warpSize: dev.warpSize });
  const m = ctx.loadModule(r.binary);
  const f = m.fn('vadd');
  const b = ctx.createBuffer(16);
  ctx.upload(b, new Float32Array([1, 2, 3, 4]));
  ctx.launch(f, [1, 1, 1], [4, 1, 1], [{ buffer: b }, { buffer: b }, { buffer: b }, { u32: 4 }]);
  eq(new Float32Array(ctx.download(b, 0, 16)), [2, 4, 6, 8], 'b');
  m.destroy();
  return `${r.format}, ${r.binary.length} B, options ${r.options.join(' ')}`;
});

check('destroy releases everything', () => {
  ctx.destroy();
  const live = addon.liveObjects();
  if (live.contexts || live.buffers || live.modules) throw new Error(`live after destroy: ${JSON.stringify(live)}`);
});

console.log(failed ? `${failed} check(s) FAILED` : 'all checks PASSED');
process.exit(failed ? 1 : 0);
