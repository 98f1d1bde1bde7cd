/**
 * HIP / CUDA test harness for the HIP ports of the kernel families (used by test/hip-kernels.test.ts):
 * opens device 0 of the HIP back-end (native/hip), renders a variant (generator/hip/render.ts), compiles
 * and loads it once per source, and runs a family's plan() on it: per step the entry hipEntryName(step's
 * specOverrides), grid = step.groups, block = workgroupSize(p), arguments = the binding buffers in binding
 * order then the push-constant fields decoded from step.push in hipArgs order (u32 / f32). The templates
 * use static shared memory only, so no dynamic shared bytes are passed. Outputs are poisoned with NaN (or
 * initialised), a "scratch" binding gets plan.scratchBytes of NaN; outputs are downloaded.
 */
import { type GpuBuffer, type HipContext, type KernelArg, type Module, hip } from '../../native/hip';
import { type HipFamily, dispatchReject, hipArgs, hipDefaults, hipEntryName, hipLimits, hipPrunedSpace, hipReject } from '../../generator/hip/families';
import { type RenderedHip, renderHip } from '../../generator/hip/render';
import type { DispatchPlan, Params, TemplateInstance } from '../../generator/schema';
import type { QuantType } from '../../generator/ops';
import { toGpuLayout } from '../../generator/weight-layout';

export interface HipGpu {
  ctx: HipContext;
  /** Wavefront / warp size the sources are rendered for. */
  wave: number;
  /** Shared memory per block without opt-in (bytes): the LDS bound of the pruned spaces. */
  lds: number;
}

let opened: { gpu: HipGpu | null; why: string } | null = null;
const modules = new Map<string, Module>();

/** Open (once) HIP device $KPACK_HIP_DEVICE (default 0); `why` says why not when gpu is null. */
export function openHip(): { gpu: HipGpu | null; why: string } {
  if (opened) return opened;
  const a = hip.available();
  if (!a.ok) return (opened = { gpu: null, why: `no CUDA / HIP device: ${a.reason}` });
  try {
    const ctx = hip.createContext(Number(process.env.KPACK_HIP_DEVICE ?? 0));
    opened = { gpu: { ctx, wave: ctx.device.warpSize, lds: Math.min(65536, ctx.device.sharedMemPerBlock) }, why: '' };
  } catch (e) {
    opened = { gpu: null, why: `HIP context failed: ${(e as Error).message}` };
  }
  return opened;
}

/** Release the device (call from after()). */
export function closeHip(): void {
  modules.clear();
  opened?.gpu?.ctx.destroy();
  opened = null;
}

/** A HIP variant: family port, instance, tuned params (hipParamNames: the family's non-dispatch ones plus WAVES_PER_EU). */
export interface HipVariantSpec {
  hf: HipFamily;
  inst: TemplateInstance;
  params: Params;
  /** Dispatch points to build as entries (default: every point the variant accepts). */
  dispatch?: Params[];
}

export const fmtParams = (p: Params): string =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Params for the family's plan() / reject(): the Vulkan defaults (dispatch values) under the tuned ones. */
export const planParams = (v: HipVariantSpec): Params => ({ ...v.hf.family.defaults, ...v.params });

/**
 * Variants to test at wavefront `wave`: hipDefaults, each of `extra` over the defaults (those hipReject
 * accepts), and `sampled` distinct random points of the pruned HIP space.
 */
export function testPoints(hf: HipFamily, inst: TemplateInstance, wave: number, lds: number, extra: Params[], sampled = 2): Params[] {
  const def = hipDefaults(hf);
  const out: Params[] = [def];
  const same = (a: Params, b: Params): boolean => Object.keys(a).every((k) => a[k] === b[k]);
  for (const e of extra) {
    const p = { ...def, ...e };
    if (hipReject(hf, inst, p, wave, lds) === null && !out.some((q) => same(p, q))) out.push(p);
  }
  const pool = hipPrunedSpace(hf, inst, wave, lds).kept.filter((p) => !out.some((q) => same(p, q)));
  for (let i = 0; i < sampled && pool.length; i++) out.push(pool.splice(Math.floor(Math.random() * pool.length), 1)[0]);
  return out;
}

/**
 * The entry (and its dispatch point) of each step of `plan`, or the reason a step's point is rejected for
 * this variant (e.g. attention.vec TPR > D/4): such a shape cannot run on the variant.
 */
export function planEntries(v: HipVariantSpec, plan: DispatchPlan, wave: number): { entries: string[]; points: Params[] } | { rejected: string } {
  const entries: string[] = [];
  const points: Params[] = [];
  for (const st of plan.steps) {
    const d: Params = {};
    for (const n of Object.keys(v.hf.dispatch)) {
      const x = st.specOverrides?.[n];
      if (x === undefined) throw new Error(`${v.hf.family.id}: plan step lacks dispatch parameter ${n}`);
      d[n] = x;
    }
    const why = dispatchReject(v.hf, v.inst, v.params, d, hipLimits(wave));
    if (why) return { rejected: why };
    entries.push(hipEntryName(v.hf, v.inst.key, d));
    points.push(d);
  }
  return { entries, points };
}

/** The rendered source of a variant: its `dispatch` points, else every one it accepts (one code object per variant). */
export const renderVariant = (v: HipVariantSpec, wave: number): RenderedHip => renderHip({ hf: v.hf, instance: v.inst, params: v.params, wave, dispatch: v.dispatch });

/** The distinct dispatch points the plans of `shapes` need on variant `v` (those it accepts), in first-use order. */
export function neededDispatch(v: HipVariantSpec, shapes: unknown[], wave: number): Params[] {
  const out = new Map<string, Params>();
  for (const s of shapes) {
    const pe = planEntries(v, v.hf.family.plan(s, planParams(v), v.inst), wave);
    if (!('rejected' in pe)) pe.entries.forEach((e, i) => out.set(e, pe.points[i]));
  }
  return [...out.values()];
}

export type HostArray = Float32Array | Uint32Array | Uint16Array | Int32Array;
/** An output binding: byte size (poisoned with NaN: f32 0x7fc00000, f16 0x7e00 pairs) or initial contents. */
export type OutputSpec = { bytes: number; f16?: boolean } | { init: HostArray };

const pad16 = (n: number): number => Math.max(16, Math.ceil(n / 16) * 16);

function moduleOf(g: HipGpu, v: HipVariantSpec): Module {
  const r = renderVariant(v, g.wave);
  let m = modules.get(r.sourceSha256);
  if (!m) {
    m = g.ctx.compile(r.source, { name: `${v.hf.family.id}_${v.inst.key}.hip` });
    modules.set(r.sourceSha256, m);
  }
  return m;
}

/**
 * Run variant `v` on `shape` (plan of `planShape`, default `shape`): inputs uploaded, outputs poisoned or
 * initialised, every plan step launched, outputs downloaded.
 * @returns binding name -> downloaded bytes (exactly the requested size), or null when the plan needs a
 *   dispatch point the variant rejects (the reason in `skipped`).
 */
export function runHip(
  g: HipGpu,
  v: HipVariantSpec,
  shape: unknown,
  inputs: Record<string, HostArray>,
  outputs: Record<string, OutputSpec>,
  skipped?: string[],
): Record<string, ArrayBuffer> | null {
  const { ctx } = g;
  const fam = v.hf.family;
  const plan = fam.plan(shape, planParams(v), v.inst);
  const pe = planEntries(v, plan, g.wave);
  if ('rejected' in pe) {
    skipped?.push(pe.rejected);
    return null;
  }
  const mod = moduleOf(g, v);
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
    if (!buffers.scratch && fam.bindings.some((b) => b.name === 'scratch')) {
      buffers.scratch = ctx.createBuffer(pad16(plan.scratchBytes));
      ctx.fill(buffers.scratch, 0x7fc00000);
    }
    const spec = hipArgs(v.hf);
    const block = fam.workgroupSize(planParams(v));
    plan.steps.forEach((st, i) => {
      const view = new DataView(st.push.buffer, st.push.byteOffset, st.push.byteLength);
      let field = 0;
      const args: KernelArg[] = spec.map((a): KernelArg => {
        if (a.kind === 'ptr') {
          const b = buffers[a.name] ?? (fam.bindings.find((x) => x.name === a.name)?.optional ? buffers[fam.bindings[0].name] : undefined);
          if (!b) throw new Error(`${fam.id}: no buffer for argument ${a.name}`);
          return { buffer: b };
        }
        const off = 4 * field++;
        return a.kind === 'u32' ? { u32: view.getUint32(off, true) } : { f32: view.getFloat32(off, true) };
      });
      if (4 * field !== st.push.byteLength) throw new Error(`${fam.id}: ${field} push fields for ${st.push.byteLength} push bytes`);
      ctx.launch(mod.fn(pe.entries[i]), st.groups, block, args);
    });
    ctx.synchronize();
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

/** ggml q8_0 / q4_0 blocks -> kpack's GPU layout (generator/weight-layout.ts) as whole 32-bit words. */
export function gpuWeights(type: QuantType, blocks: Uint8Array): Uint32Array {
  const gpu = toGpuLayout(type, blocks);
  const words = new Uint32Array(Math.ceil(gpu.length / 4));
  new Uint8Array(words.buffer).set(gpu);
  return words;
}
