/**
 * GPU test harness for kernel families (used by test/kernels-matmul.test.ts, test/kernels-ops.test.ts):
 * opens the first Vulkan device through the native addon (loaded by path, so tests compile before the
 * addon exists), compiles instances through generator/compile.ts (cached), and runs one variant with
 * NaN-poisoned outputs, returning the downloaded output buffers. A family with a "scratch" binding gets one
 * (plan.scratchBytes, at least 16 bytes) unless the caller passes it.
 */
import * as path from 'node:path';
import type { Context, DeviceInfo, GpuBuffer, VulkanBackend } from '../../native/vulkan/api';
import { compileInstance, findCompiler, missingExtensions } from '../../generator/compile';
import { loadManifest, readSpirv } from '../../generator/manifest';
import { deviceLimits } from '../../generator/device-limits';
import { type LaunchableVariant, PipelineCache, countersAtZero, createCounters, recordVariant } from '../../generator/launch';
import type { DeviceLimits, KernelFamily, Params, TemplateInstance } from '../../generator/schema';
import type { QuantType } from '../../generator/ops';
import { toGpuLayout } from '../../generator/weight-layout';
import { instanceUnsupported } from '../../generator/prune';

export interface Gpu {
  ctx: Context;
  device: DeviceInfo;
  limits: DeviceLimits;
  pipelines: PipelineCache;
}

let opened: { gpu: Gpu | null; why: string } | null = null;

/** Open (once) the device $KPACK_DEVICE (index, default 0); `why` says why not when gpu is null. */
export function openGpu(): { gpu: Gpu | null; why: string } {
  if (opened) return opened;
  try {
    const mod = require(path.join(__dirname, '../../native/vulkan'));
    const vk: VulkanBackend | undefined = mod.vulkan ?? mod.default ?? mod;
    if (!vk || typeof vk.listDevices !== 'function') return (opened = { gpu: null, why: 'native/vulkan exports no backend' });
    const devices = vk.listDevices();
    if (devices.length === 0) return (opened = { gpu: null, why: 'no Vulkan device' });
    const index = Number(process.env.KPACK_DEVICE ?? 0);
    const ctx = vk.createContext(index);
    opened = { gpu: { ctx, device: ctx.device, limits: deviceLimits(ctx.device), pipelines: new PipelineCache(ctx) }, why: '' };
  } catch (e) {
    opened = { gpu: null, why: `Vulkan addon not available (${(e as Error).message.split('\n')[0]})` };
  }
  return opened;
}

/** Release the device (call from after()). */
export function closeGpu(): void {
  if (opened?.gpu) {
    opened.gpu.pipelines.destroy();
    opened.gpu.ctx.destroy();
  }
  opened = null;
}

const spirvCache = new Map<string, Promise<Uint8Array>>();
/**
 * Compiled SPIR-V of an instance (memoised; disk-cached by compile.ts). Where no GLSL compiler is
 * installed (a GPU machine that received the built tree), the SPIR-V `npm run build` wrote to
 * dist/kernels is used instead.
 */
/**
 * Why a kernel test of `instance` cannot run on `gpu` (the GLSL compiler lacks an extension the instance needs, or
 * the device lacks a feature), or null. No compiler at all is not a reason: the built SPIR-V serves (spirvOf).
 */
export async function instanceSkipReason(gpu: Gpu, instance: TemplateInstance): Promise<string | null> {
  const compiler = await findCompiler().catch(() => null);
  const missing = compiler ? missingExtensions(compiler, instance.requiresCompilerExtensions) : [];
  if (missing.length) return `skipped: compiler lacks ${missing.join(', ')}`;
  const unsupported = instanceUnsupported(instance, gpu.limits);
  return unsupported ? `skipped: ${unsupported}` : null;
}

export function spirvOf(family: KernelFamily<any>, instance: TemplateInstance): Promise<Uint8Array> {
  const key = `${family.id}/${instance.key}`;
  let p = spirvCache.get(key);
  if (!p) {
    p = compileInstance(family, instance)
      .then((r) => r.spirv)
      .catch((e: Error) => {
        const built = builtSpirv(family.id, instance.key);
        if (!built || !/glslang/.test(e.message)) throw e;
        return built;
      });
    spirvCache.set(key, p);
  }
  return p;
}

/** The instance's SPIR-V from the built kernel manifest (dist/kernels), or null. */
export function builtSpirv(familyId: string, instanceKey: string): Uint8Array | null {
  const dir = path.resolve(__dirname, '..', '..', 'kernels');
  try {
    const m = loadManifest(dir);
    const inst = m.families.find((f) => f.id === familyId)?.instances.find((i) => i.key === instanceKey);
    return inst ? readSpirv(dir, inst.spirv) : null;
  } catch {
    return null;
  }
}

export type HostArray = Float32Array | Uint32Array | Uint16Array | Int32Array;

/** An output binding: byte size (poisoned with NaN before the run) or initial contents (read-write). */
export type OutputSpec = { bytes: number; f16?: boolean } | { init: HostArray };

const pad4 = (n: number): number => Math.max(16, Math.ceil(n / 16) * 16);

/**
 * Run `family/instance` with `params` on `shape`: inputs uploaded, outputs poisoned with NaN (f32
 * 0x7fc00000 or f16 0x7e00 pairs) or initialised, one submission, outputs downloaded.
 * @returns binding name -> downloaded bytes (exactly the requested size).
 */
export async function runVariant<Shape>(
  gpu: Gpu,
  family: KernelFamily<Shape>,
  instance: TemplateInstance,
  params: Params,
  shape: Shape,
  inputs: Record<string, HostArray>,
  outputs: Record<string, OutputSpec>,
): Promise<Record<string, ArrayBuffer>> {
  const variant: LaunchableVariant<Shape> = { family, instance, params, spirv: await spirvOf(family, instance) };
  const { ctx } = gpu;
  const buffers: Record<string, GpuBuffer> = {};
  const sizes: Record<string, number> = {};
  const seq = ctx.createSequence();
  try {
    for (const [name, data] of Object.entries(inputs)) {
      buffers[name] = ctx.createBuffer(pad4(data.byteLength));
      ctx.upload(buffers[name], data);
    }
    for (const [name, spec] of Object.entries(outputs)) {
      if ('init' in spec) {
        sizes[name] = spec.init.byteLength;
        buffers[name] = ctx.createBuffer(pad4(sizes[name]));
        ctx.upload(buffers[name], spec.init);
      } else {
        sizes[name] = spec.bytes;
        buffers[name] = ctx.createBuffer(pad4(spec.bytes));
        seq.fill(buffers[name], spec.f16 ? 0x7e007e00 : 0x7fc00000);
      }
    }
    seq.barrier();
    const plan = family.plan(shape, params, instance);
    if (!buffers.scratch && (plan.scratchBytes > 0 || family.bindings.some((b) => b.name === 'scratch'))) buffers.scratch = ctx.createBuffer(pad4(plan.scratchBytes));
    if (!buffers.counters && plan.counterWords) {
      buffers.counters = createCounters(ctx, 4 * plan.counterWords);
    }
    recordVariant(seq, gpu.pipelines, variant, shape, buffers, plan);
    seq.submit();
    if (plan.counterWords) {
      // the counters contract (generator/schema.ts DispatchPlan): the kernel leaves them zero
      if (!countersAtZero(ctx, buffers.counters, plan.counterWords)) throw new Error(`${family.id}: counters not left at zero`);
    }
    const out: Record<string, ArrayBuffer> = {};
    for (const name of Object.keys(outputs)) out[name] = ctx.download(buffers[name], 0, sizes[name]);
    return out;
  } finally {
    seq.destroy();
    for (const b of Object.values(buffers)) b.destroy();
  }
}

/** Uniform random f32 values in [-1, 1). */
export function randomF32(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** `count` distinct random points of `space` other than `exclude` (e.g. the defaults). */
export function samplePoints(space: Params[], count: number, exclude?: Params): Params[] {
  const same = (a: Params, b?: Params): boolean => !!b && Object.keys(a).every((k) => a[k] === b[k]);
  const pool = space.filter((p) => !same(p, exclude));
  const out: Params[] = [];
  while (out.length < count && pool.length) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
  return out;
}

/** "A=1,B=2" for messages. */
export const fmtParams = (p: Params): string =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/**
 * ggml blocks (as GGUF stores them) -> the bytes kernels read (kpack's GPU layout for q8_0 / q4_0,
 * generator/weight-layout.ts), as whole 32-bit words ready to upload.
 */
export function gpuWeights(type: QuantType, blocks: Uint8Array): Uint32Array {
  const gpu = toGpuLayout(type, blocks);
  const words = new Uint32Array(Math.ceil(gpu.length / 4));
  new Uint8Array(words.buffer).set(gpu);
  return words;
}
