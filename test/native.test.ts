/**
 * Tests of the native Vulkan back-end (native/vulkan) on whatever device 0 is (lavapipe in CI).
 * Needs the addon built (`npx node-gyp rebuild`) and glslangValidator for the shader tests.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { type Context, type DeviceInfo, type Pipeline, liveObjects, vulkan } from '../native/vulkan/index';

const SHADER = `#version 450
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MUL = 1;
layout(constant_id = 2) const float FADD = 0.0;
layout(constant_id = 3) const int ISUB = 0;
layout(push_constant) uniform P { uint n; uint add; } pc;
layout(std430, binding = 0) readonly buffer A { uint a[]; };
layout(std430, binding = 1) writeonly buffer B { uint b[]; };
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) b[i] = a[i] * MUL + pc.add + uint(FADD) - uint(ISUB);
}
`;

let tmp: string;
let spirv: Uint8Array | undefined;
let ctx: Context;

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const old: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) {
    old[k] = process.env[k];
    process.env[k] = vars[k];
  }
  try {
    return fn();
  } finally {
    for (const k of Object.keys(vars)) {
      if (old[k] === undefined) delete process.env[k];
      else process.env[k] = old[k];
    }
  }
}

function push(n: number, add: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n, add]).buffer);
}

function makePipeline(c: Context, local = 64, mul = 3, fadd = 2.5, isub = 1): Pipeline {
  assert.ok(spirv, 'glslangValidator missing');
  return c.createPipeline({
    spirv,
    specConstants: [
      { id: 0, value: local, type: 'u32' },
      { id: 1, value: mul, type: 'u32' },
      { id: 2, value: fadd, type: 'f32' },
      { id: 3, value: isub, type: 'i32' },
    ],
    pushConstantBytes: 8,
    bindingCount: 2,
  });
}

/** Runs the test shader over n elements (input offset 0, output at `outOffset`) and checks it. */
function runShader(c: Context, n: number, outOffset: number, dispatches = 1): void {
  const a = c.createBuffer(n * 4);
  const b = c.createBuffer(outOffset + n * 4);
  const input = new Uint32Array(n).map((_, i) => i * 7 + 1);
  c.upload(a, input);
  const p = makePipeline(c);
  const seq = c.createSequence();
  for (let d = 0; d < dispatches; d++) {
    seq.dispatch(p, [{ buffer: a }, { buffer: b, offset: outOffset, range: n * 4 }], push(n, 10 + d), [Math.ceil(n / 64), 1, 1]);
    seq.barrier();
  }
  seq.submit();
  const out = new Uint32Array(c.download(b, outOffset, n * 4));
  const last = 10 + dispatches - 1;
  for (let i = 0; i < n; i++) assert.equal(out[i], (input[i] * 3 + last + 2 - 1) >>> 0, `element ${i}`);
  for (const o of [seq, p, a, b]) o.destroy();
}

describe('native vulkan back-end', () => {
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-native-'));
    try {
      const src = path.join(tmp, 'test.comp');
      const out = path.join(tmp, 'test.spv');
      fs.writeFileSync(src, SHADER);
      execFileSync('glslangValidator', ['-V', '--target-env', 'vulkan1.2', src, '-o', out], { stdio: 'pipe' });
      spirv = new Uint8Array(fs.readFileSync(out));
    } catch {
      spirv = undefined;
    }
    ctx = vulkan.createContext(0);
  });
  after(() => {
    ctx?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists devices with sane fields', () => {
    const devs: DeviceInfo[] = vulkan.listDevices();
    assert.ok(devs.length >= 1);
    devs.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.ok(d.name.length > 0);
      assert.match(d.apiVersion, /^1\.\d+\.\d+$/);
      assert.ok(['discrete', 'integrated', 'virtual', 'cpu', 'other'].includes(d.deviceType));
      assert.ok(d.subgroupSize >= 1 && (d.subgroupSize & (d.subgroupSize - 1)) === 0);
      assert.ok(d.maxSharedMemoryBytes >= 16384);
      assert.ok(d.maxWorkgroupInvocations >= 128);
      assert.equal(d.maxWorkgroupSize.length, 3);
      assert.equal(d.maxWorkgroupCount.length, 3);
      assert.ok(d.maxPushConstantsBytes >= 128);
      assert.ok(d.maxStorageBufferRange >= 1 << 27);
      assert.ok(d.timestampPeriod > 0);
      assert.ok(d.memoryHeaps.length >= 1 && d.memoryHeaps.every((h) => h.size > 0));
      assert.ok(Array.isArray(d.coopmatShapes));
      for (const k of Object.keys(d.features)) assert.equal(typeof (d.features as Record<string, unknown>)[k], 'boolean');
      assert.ok(d.multiprocessorCount >= 0);
    });
    const lvp = devs.find((d) => d.driverName === 'llvmpipe');
    if (lvp) {
      assert.equal(lvp.deviceType, 'cpu');
      assert.equal(lvp.subgroupSize, 8);
      assert.equal(lvp.maxSharedMemoryBytes, 32768);
      assert.equal(lvp.features.coopmat, false);
      assert.deepEqual(lvp.coopmatShapes, []);
    }
    assert.deepEqual(ctx.device, devs[0]);
  });

  it('uploads and downloads with offsets, across staging chunks', () => {
    const buf = ctx.createBuffer(1 << 20);
    assert.equal(buf.size, 1 << 20);
    const data = randomBytes(1000);
    ctx.upload(buf, data, 12);
    assert.deepEqual(Buffer.from(ctx.download(buf, 12, 1000)), data);
    assert.deepEqual(Buffer.from(ctx.download(buf, 112, 17)), data.subarray(100, 117));
    ctx.upload(buf, new Float32Array([1.5, -2]), 4096);
    assert.deepEqual(new Float32Array(ctx.download(buf, 4096, 8)), new Float32Array([1.5, -2]));
    assert.equal(ctx.download(buf, 0, 0).byteLength, 0);
    assert.throws(() => ctx.upload(buf, data, (1 << 20) - 10), RangeError);
    assert.throws(() => ctx.download(buf, 1 << 20, 1), RangeError);
    buf.destroy();

    // Small staging buffer: many chunks, odd sizes and offsets.
    const small = withEnv({ KPACK_VULKAN_STAGING_BYTES: '65536' }, () => vulkan.createContext(0));
    const big = small.createBuffer(400_000);
    const payload = randomBytes(300_001);
    small.upload(big, payload, 3);
    assert.ok(Buffer.from(small.download(big, 3, 300_001)).equals(payload));
    assert.ok(Buffer.from(small.download(big, 70_001, 100_000)).equals(payload.subarray(69_998, 169_998)));
    small.destroy();

    // Default staging (64 MiB): one transfer larger than it.
    const n = (64 << 20) + 4096 + 3;
    const huge = ctx.createBuffer(n);
    const hp = new Uint8Array(n);
    for (let i = 0; i < n; i += 4099) hp[i] = (i * 31) & 255;
    hp[n - 1] = 77;
    ctx.upload(huge, hp);
    const back = new Uint8Array(ctx.download(huge, 0, n));
    assert.ok(Buffer.from(back.buffer).equals(Buffer.from(hp.buffer)));
    huge.destroy();
  });

  it('runs a GLSL compute shader with spec and push constants', (t) => {
    if (!spirv) return t.skip('glslangValidator not installed');
    runShader(ctx, 1000, 256);
    runShader(ctx, 64 * 5, 0, 3);
  });

  it('works without push descriptors (descriptor-pool path, > one pool of sets)', (t) => {
    if (!spirv) return t.skip('glslangValidator not installed');
    const c = withEnv({ KPACK_VULKAN_NO_PUSH_DESCRIPTOR: '1' }, () => vulkan.createContext(0));
    assert.equal((c as unknown as { pushDescriptors: boolean }).pushDescriptors, false);
    runShader(c, 200, 64, 600);
    c.destroy();
    assert.equal((ctx as unknown as { pushDescriptors: boolean }).pushDescriptors, ctx.device.features.pushDescriptor);
  });

  it('barriers order transfers and dispatches in one recording (update, dispatch, copy, dispatch)', (t) => {
    if (!spirv) return t.skip('glslangValidator not installed');
    const n = 256;
    const input = new Uint32Array(n).map((_, i) => i * 5 + 3);
    const [a, b, a2, b2] = [0, 1, 2, 3].map(() => ctx.createBuffer(n * 4));
    const p = makePipeline(ctx);
    const seq = ctx.createSequence();
    seq.update(a, input);
    seq.barrier(); // transfer -> compute
    seq.dispatch(p, [{ buffer: a }, { buffer: b }], push(n, 10), [Math.ceil(n / 64), 1, 1]);
    seq.barrier(); // compute -> transfer
    seq.copy(b, a2, n * 4);
    seq.barrier(); // transfer -> compute
    seq.dispatch(p, [{ buffer: a2 }, { buffer: b2 }], push(n, 20), [Math.ceil(n / 64), 1, 1]);
    seq.submit();
    const f = (x: number, k: number) => (x * 3 + k + 1) >>> 0;
    const out = new Uint32Array(ctx.download(b2, 0, n * 4));
    for (let i = 0; i < n; i++) assert.equal(out[i], f(f(input[i], 10), 20), `element ${i}`);
    for (const o of [seq, p, a, b, a2, b2]) o.destroy();
  });

  it('host-visible buffers are read back after the submit that wrote them', () => {
    const ctx = vulkan.createContext(0);
    try {
      const dev = ctx.createBuffer(64);
      const host = ctx.createBuffer(64, { hostVisible: true });
      const seq = ctx.createSequence();
      seq.update(dev, Uint32Array.from([1, 2, 3, 4]));
      seq.barrier();
      seq.copy(dev, host, 16, 0, 8);
      seq.submit();
      assert.deepEqual(Array.from(new Uint32Array(host.read(8, 16))), [1, 2, 3, 4]);
      assert.throws(() => dev.read(0, 4), /not host-visible/);
      assert.throws(() => host.read(60, 8), RangeError);
      seq.destroy();
      host.destroy();
      assert.throws(() => host.read(0, 4), /after destroy/);
    } finally {
      ctx.destroy();
    }
  });

  it('update writes host bytes in order with the recorded commands', () => {
    const ctx = vulkan.createContext(0);
    try {
      const buf = ctx.createBuffer(64);
      const seq = ctx.createSequence();
      seq.fill(buf, 0x01010101);
      seq.barrier();
      seq.update(buf, Uint32Array.from([7, 8, 9]), 16);
      seq.submit();
      assert.deepEqual(Array.from(new Uint32Array(ctx.download(buf, 0, 32))), [0x01010101, 0x01010101, 0x01010101, 0x01010101, 7, 8, 9, 0x01010101]);
      seq.reset();
      assert.throws(() => seq.update(buf, new Uint8Array(3)), RangeError);
      assert.throws(() => seq.update(buf, new Uint32Array(17), 4), RangeError);
      assert.throws(() => seq.update(buf, new Uint32Array(20000)), /65536/);
      seq.destroy();
    } finally {
      ctx.destroy();
    }
  });

  it('fills and copies', () => {
    const a = ctx.createBuffer(4096);
    const b = ctx.createBuffer(4096);
    const seq = ctx.createSequence();
    seq.fill(a, 0xdeadbeef);
    seq.fill(b, 0);
    seq.fill(a, -1, 64, 16);
    seq.barrier();
    seq.copy(a, b, 128, 32, 1000);
    seq.submit();
    const ua = new Uint32Array(ctx.download(a, 0, 4096));
    assert.equal(ua[0], 0xdeadbeef);
    assert.deepEqual([...ua.subarray(15, 21)], [0xdeadbeef, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xdeadbeef]);
    const ub = new Uint8Array(ctx.download(b, 0, 4096));
    assert.deepEqual(ub.subarray(1000, 1128), new Uint8Array(ctx.download(a, 32, 128)));
    assert.equal(ub[999], 0);
    assert.equal(ub[1128], 0);
    assert.throws(() => seq.fill(a, 1), /reset\(\)/);
    seq.reset();
    assert.throws(() => seq.fill(a, 1, 2), RangeError);
    assert.throws(() => seq.copy(a, b, 4096, 1), RangeError);
    assert.throws(() => seq.copy(a, a, 100, 0, 50), /overlap/);
    for (const o of [seq, a, b]) o.destroy();
  });

  it('records monotonic timestamps and re-submits', (t) => {
    if (!ctx.device.timestamps) return t.skip('no timestamps on this queue');
    const buf = ctx.createBuffer(1 << 22);
    const seq = ctx.createSequence();
    assert.equal(seq.timestamp(), 0);
    seq.fill(buf, 1);
    seq.barrier();
    assert.equal(seq.timestamp(), 1);
    seq.fill(buf, 2);
    assert.equal(seq.timestamp(), 2);
    seq.submit();
    for (let k = 0; k < 2; k++) {
      const ts = seq.timestamps();
      assert.ok(ts instanceof Float64Array);
      assert.equal(ts.length, 3);
      assert.equal(ts[0], 0);
      assert.ok(ts[1] >= ts[0] && ts[2] >= ts[1], `not monotonic: ${ts}`);
      seq.submit(); // same recording again
    }
    seq.reset();
    for (let i = 0; i < 1024; i++) seq.timestamp();
    assert.throws(() => seq.timestamp(), /1024/);
    seq.reset();
    seq.submit();
    assert.equal(seq.timestamps().length, 0);
    seq.destroy();
    buf.destroy();
  });

  it('writes and reloads the pipeline cache', (t) => {
    if (!spirv) return t.skip('glslangValidator not installed');
    const file = path.join(tmp, 'pipelines.bin');
    type WithCache = Context & { pipelineCacheLoaded: boolean };
    const c1 = vulkan.createContext(0, { pipelineCachePath: file }) as WithCache;
    assert.equal(c1.pipelineCacheLoaded, false);
    makePipeline(c1).destroy();
    c1.savePipelineCache();
    c1.destroy();
    const bytes = fs.readFileSync(file);
    assert.ok(bytes.length >= 32);
    assert.equal(bytes.readUInt32LE(4), 1); // VK_PIPELINE_CACHE_HEADER_VERSION_ONE
    assert.equal(bytes.readUInt32LE(8), ctx.device.vendorId);
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('.tmp')), []);
    const c2 = vulkan.createContext(0, { pipelineCachePath: file }) as WithCache;
    assert.equal(c2.pipelineCacheLoaded, true);
    runShader(c2, 100, 0);
    c2.savePipelineCache();
    c2.destroy();
    fs.writeFileSync(file, randomBytes(200)); // invalid: ignored
    const c3 = vulkan.createContext(0, { pipelineCachePath: file }) as WithCache;
    assert.equal(c3.pipelineCacheLoaded, false);
    c3.destroy();
    const c4 = vulkan.createContext(0); // no path: save is a no-op
    c4.savePipelineCache();
    c4.destroy();
  });

  it('reports errors clearly', (t) => {
    assert.throws(() => ctx.createPipeline({ spirv: randomBytes(64), specConstants: [], pushConstantBytes: 0, bindingCount: 1 }), /vkCreateShaderModule/);
    assert.throws(() => ctx.createPipeline({ spirv: new Uint8Array(6), specConstants: [], pushConstantBytes: 0, bindingCount: 1 }), TypeError);
    assert.throws(() => ctx.createBuffer('x' as unknown as number), (e: Error) => e instanceof TypeError && /bytes/.test(e.message));
    assert.throws(() => ctx.createBuffer(-1), TypeError);
    assert.throws(() => ctx.createBuffer(0), RangeError);
    assert.throws(() => vulkan.createContext(999), RangeError);
    assert.throws(() => ctx.createBuffer(2 ** 50), /vkAllocateMemory failed: VK_ERROR_OUT_OF_DEVICE_MEMORY|failed: VK_ERROR/);
    if (!spirv) return t.skip('glslangValidator not installed');
    const p = makePipeline(ctx);
    assert.throws(() => ctx.createPipeline({ spirv: spirv!, entry: 'nope', specConstants: [], pushConstantBytes: 8, bindingCount: 2 }), /entry point/);
    assert.throws(() => ctx.createPipeline({ spirv: spirv!, specConstants: [{ id: 1, value: -1, type: 'u32' }], pushConstantBytes: 8, bindingCount: 2 }), TypeError);
    assert.throws(() => ctx.createPipeline({ spirv: spirv!, specConstants: [], pushConstantBytes: 8, bindingCount: 1 }), /uses binding 1 but desc.bindingCount is 1/);
    assert.throws(() => ctx.createPipeline({ spirv: spirv!, specConstants: [], pushConstantBytes: 6, bindingCount: 2 }), TypeError);
    assert.throws(() => ctx.createPipeline({ spirv: spirv!, specConstants: [], pushConstantBytes: 4096, bindingCount: 2 }), RangeError);
    const a = ctx.createBuffer(1024);
    const seq = ctx.createSequence();
    assert.throws(() => seq.dispatch(p, [{ buffer: a }, { buffer: a }], new Uint8Array(4), [1, 1, 1]), /push has 4 bytes, the pipeline expects 8/);
    assert.throws(() => seq.dispatch(p, [{ buffer: a }, { buffer: a }], null, [1, 1, 1]), /push has 0 bytes/);
    assert.throws(() => seq.dispatch(p, [{ buffer: a }], push(1, 1), [1, 1, 1]), TypeError);
    assert.throws(() => seq.dispatch(p, [{ buffer: a }, { buffer: {} as never }], push(1, 1), [1, 1, 1]), /bindings\[1\]\.buffer must be a GpuBuffer/);
    assert.throws(() => seq.dispatch(p, [{ buffer: a }, { buffer: a, offset: 4096 }], push(1, 1), [1, 1, 1]), RangeError);
    assert.throws(() => seq.dispatch(p, [{ buffer: a }, { buffer: a }], push(1, 1), [1e9, 1, 1]), RangeError);
    a.destroy();
    a.destroy(); // twice is harmless
    assert.throws(() => ctx.upload(a, new Uint8Array(4)), /after destroy/);
    assert.throws(() => seq.fill(a, 0), /after destroy/);
    p.destroy();
    assert.throws(() => seq.dispatch(p, [], null, [1, 1, 1]), /Pipeline used after destroy/);
    seq.destroy();
    assert.throws(() => seq.submit(), /after destroy/);

    // Context.destroy() frees children; using them afterwards is a clear error; destroy twice is fine.
    const base = liveObjects();
    const c = vulkan.createContext(0);
    const b = c.createBuffer(64);
    const p2 = makePipeline(c);
    const s2 = c.createSequence();
    s2.fill(b, 1);
    const live = liveObjects();
    assert.deepEqual([live.contexts, live.buffers, live.pipelines, live.sequences], [base.contexts + 1, base.buffers + 1, base.pipelines + 1, base.sequences + 1]);
    c.destroy();
    assert.deepEqual(liveObjects(), base);
    assert.throws(() => c.createBuffer(4), /Context used after destroy/);
    assert.throws(() => s2.submit(), /Context was destroyed/);
    assert.throws(() => ctx.upload(b, new Uint8Array(4)), /Context was destroyed/);
    c.destroy();
    b.destroy();
    p2.destroy();
    s2.destroy();
  });

  it('does not leak over 3000 create/destroy cycles', (t) => {
    if (!spirv) return t.skip('glslangValidator not installed');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const cycle = (i: number) => {
      const a = ctx.createBuffer(4096 + (i % 7) * 4096);
      const b = ctx.createBuffer(4096);
      const p = makePipeline(ctx, 64, 1 + (i % 3));
      const s = ctx.createSequence();
      s.dispatch(p, [{ buffer: a }, { buffer: b }], push(16, i), [1, 1, 1]);
      s.timestamp();
      s.submit();
      s.destroy();
      p.destroy();
      a.destroy();
      b.destroy();
    };
    for (let i = 0; i < 300; i++) cycle(i);
    gc();
    const base = liveObjects();
    // RSS is compared between two points inside the run (after 1000 and after 3000 cycles), so that
    // memory freed from earlier tests (lazily returned by malloc) does not mask growth.
    let rss1 = 0;
    for (let i = 0; i < 3000; i++) {
      cycle(i);
      if (i === 999) {
        gc();
        rss1 = process.memoryUsage().rss;
      }
    }
    gc();
    assert.deepEqual(liveObjects(), base);
    const grown = (process.memoryUsage().rss - rss1) / (1 << 20);
    t.diagnostic(`RSS growth over the last 2000 of 3000 cycles: ${grown.toFixed(1)} MiB`);
    assert.ok(grown < 30, `RSS grew by ${grown.toFixed(1)} MiB`);
    // Deferred free: a destroyed buffer still recorded in a sequence is released by reset().
    const x = ctx.createBuffer(64);
    const s = ctx.createSequence();
    s.fill(x, 3);
    x.destroy();
    s.submit();
    assert.equal(liveObjects().buffers, base.buffers + 1);
    s.reset();
    assert.equal(liveObjects().buffers, base.buffers);
    s.destroy();
  });
});
