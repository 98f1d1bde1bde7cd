/**
 * HIP / CUDA test harness for the HIP ports of the kernel families (used by test/hip-kernels.test.ts):
 * opens device 0 of the HIP back-end (native/hip) and runs a variant's plan on host data through
 * tuner/hip/run.ts (rendered, compiled and loaded once per source; per step the entry of the step's
 * dispatch point, grid = step.groups, block = workgroupSize(p), arguments = the binding buffers in
 * binding order then the push fields). Inputs are uploaded, outputs poisoned with NaN (or initialised),
 * a "scratch" binding gets plan.scratchBytes of NaN, a "counters" binding a zeroed buffer that must be
 * zero again after the run (DispatchPlan.counterWords); outputs are downloaded. Test-only parts live here
 * (random test points, host-array runs); the rest is re-exported from tuner/hip/run.ts.
 */
import { type GpuBuffer, type HipContext, hip } from '../../native/hip';
import { type HipFamily, hipDefaults, hipPrunedSpace, hipReject } from '../../generator/hip/families';
import type { Params, TemplateInstance } from '../../generator/schema';
import { type HipVariantSpec, HipModuleCache, createHipCounters, enqueueHipPlan, hipLaunchPlan } from '../../tuner/hip/run';

export { type HipVariantSpec, fmtParams, gpuWeights, neededDispatch, planEntries, planParams, renderVariant } from '../../tuner/hip/run';

export interface HipGpu {
  ctx: HipContext;
  /** Wavefront / warp size the sources are rendered for. */
  wave: number;
  /** Shared memory per block without opt-in (bytes): the LDS bound of the pruned spaces. */
  lds: number;
  /** The context's compiled variants. */
  modules: HipModuleCache;
}

let opened: { gpu: HipGpu | null; why: string } | null = null;

/** Open (once) HIP device $KPACK_HIP_DEVICE (default 0); `why` says why not when gpu is null. */
export function openHip(): { gpu: HipGpu | null; why: string } {
  if (opened) return opened;
  const a = hip.available();
  if (!a.ok) return (opened = { gpu: null, why: `no CUDA / HIP device: ${a.reason}` });
  try {
    const ctx = hip.createContext(Number(process.env.KPACK_HIP_DEVICE ?? 0));
    opened = { gpu: { ctx, wave: ctx.device.warpSize, lds: Math.min(65536, ctx.device.sharedMemPerBlock), modules: new HipModuleCache(ctx) }, why: '' };
  } catch (e) {
    opened = { gpu: null, why: `HIP context failed: ${(e as Error).message}` };
  }
  return opened;
}

/** Release the device (call from after()). */
export function closeHip(): void {
  opened?.gpu?.modules.destroy();
  opened?.gpu?.ctx.destroy();
  opened = null;
}

/**
 * Variants to test at wavefront `wave`: hipDefaults, each of `extra` over the defaults (those hipReject
 * accepts), and `sampled` distinct random points of the pruned HIP space for which `usable` holds (default: any).
 */
export function testPoints(hf: HipFamily, inst: TemplateInstance, wave: number, lds: number, extra: Params[], sampled = 2, usable: (p: Params) => boolean = () => true): Params[] {
  const def = hipDefaults(hf, wave);
  const out: Params[] = [def];
  const same = (a: Params, b: Params): boolean => Object.keys(a).every((k) => a[k] === b[k]);
  for (const e of extra) {
    const p = { ...def, ...e };
    if (hipReject(hf, inst, p, wave, lds) === null && !out.some((q) => same(p, q))) out.push(p);
  }
  const pool = hipPrunedSpace(hf, inst, wave, lds).kept.filter((p) => !out.some((q) => same(p, q)) && usable(p));
  for (let i = 0; i < sampled && pool.length; i++) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
  return out;
}

export type HostArray = Float32Array | Uint32Array | Uint16Array | Int32Array;
/** An output binding: byte size (poisoned with NaN: f32 0x7fc00000, f16 0x7e00 pairs) or initial contents. */
export type OutputSpec = { bytes: number; f16?: boolean } | { init: HostArray };

const pad16 = (n: number): number => Math.max(16, Math.ceil(n / 16) * 16);

/**
 * Run variant `v` on `shape`: inputs uploaded, outputs poisoned or initialised, the plan launched `repeat`
 * times (default 1; every launch on the same buffers, so a repeat starts from the counters the previous one
 * left), outputs downloaded. A family with a "counters" binding gets one zeroed buffer (createHipCounters,
 * as the runtime's), checked after the run.
 * @returns binding name -> downloaded bytes (exactly the requested size), or null when the plan needs a
 *   dispatch point the variant rejects (the reason in `skipped`).
 * @throws Error naming the family and the values when the plan's counters (plan.counterWords) are not
 *   back at zero after the run.
 */
export function runHip(
  g: HipGpu,
  v: HipVariantSpec,
  shape: unknown,
  inputs: Record<string, HostArray>,
  outputs: Record<string, OutputSpec>,
  skipped?: string[],
  repeat = 1,
): Record<string, ArrayBuffer> | null {
  const { ctx } = g;
  const launch = hipLaunchPlan(v, shape, g.wave);
  if ('rejected' in launch) {
    skipped?.push(launch.rejected);
    return null;
  }
  const { module } = g.modules.load(v);
  const buffers: Record<string, GpuBuffer> = {};
  const sizes: Record<string, number> = {};
  try {
    for (const [name, data] of Object.entries(inputs)) {
      buffers[name] = ctx.createBuffer(pad16(data.byteLength));
      ctx.upload(buffers[name], data);
    }
    for (const [name, spec] of Object.entries(outputs)) {
      if ('init' in spec) {
        sizes[name] = spec.init.byteLength;
        buffers[name] = ctx.createBuffer(pad16(sizes[name]));
        ctx.upload(buffers[name], spec.init);
      } else {
        sizes[name] = spec.bytes;
        buffers[name] = ctx.createBuffer(pad16(spec.bytes));
        ctx.fill(buffers[name], spec.f16 ? 0x7e007e00 : 0x7fc00000);
      }
    }
    if (!buffers.scratch && v.hf.family.bindings.some((b) => b.name === 'scratch')) {
      buffers.scratch = ctx.createBuffer(pad16(launch.plan.scratchBytes));
      ctx.fill(buffers.scratch, 0x7fc00000);
    }
    if (!buffers.counters && v.hf.family.bindings.some((b) => b.name === 'counters')) buffers.counters = createHipCounters(ctx);
    for (let r = 0; r < repeat; r++) enqueueHipPlan(ctx, module, launch, buffers);
    ctx.synchronize();
    const words = launch.plan.counterWords ?? 0;
    if (words > 0) {
      const left = new Uint32Array(ctx.download(buffers.counters, 0, 4 * words));
      if (left.some((x) => x !== 0)) throw new Error(`${v.hf.family.id}: counters not left at zero after ${repeat} run(s): [${[...left].join(', ')}]`);
    }
    const out: Record<string, ArrayBuffer> = {};
    for (const name of Object.keys(outputs)) out[name] = ctx.download(buffers[name], 0, sizes[name]);
    return out;
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

/** Uniform random f32 values in [-1, 1). */
export function randomF32(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}
