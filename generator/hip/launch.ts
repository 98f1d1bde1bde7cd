/**
 * Launching the HIP ports of the kernel families (generator/hip/families.ts) without the template engine:
 * a family's plan() for a shape mapped onto a HIP variant's entries (hipLaunchPlan), bound to buffers
 * (bindHipPlan) and enqueued on a HipContext (enqueueHipPlan); plus the dispatch points the runtime
 * builds per source (runtimeSourceGroups) and the format of the HIP default-source bundle. Shared by the
 * tuner (tuner/hip/run.ts re-exports it) and the runtime (runtime/hip), which must not need Handlebars.
 *
 * Mapping: per plan step the entry hipEntryName(step's specOverrides), grid = step.groups, block =
 * workgroupSize(params), and the kernel arguments = one pointer per family binding in binding order,
 * then the push-constant fields decoded from step.push in hipArgs order (u32 / f32, little-endian). An
 * optional binding the caller does not bind gets the first binding's buffer (the entries of such plans
 * never read it), except "counters" where the plan has counterWords (bindHipPlan: the caller supplies
 * zeroed counters, createHipCounters, as the Vulkan side does). The templates use static shared memory
 * only, so no dynamic shared bytes are passed.
 */
import { type HipFamily, dispatchPoints, dispatchReject, hipArgs, hipEntryName, hipFamilyLimits } from './families';
import type { QuantType } from '../ops';
import { COUNTER_BYTES, type DispatchPlan, type Params, type TemplateInstance } from '../schema';
import { toGpuLayout } from '../weight-layout';
import type { GpuBuffer, HipContext, KernelArg, KernelFunction } from '../../native/hip/api';

/** A HIP variant: family port, instance, tuned params (hipParamNames: the family's non-dispatch ones plus WAVES_PER_EU). */
export interface HipVariantSpec {
  hf: HipFamily;
  inst: TemplateInstance;
  params: Params;
  /** Dispatch points to build as entries (default: every point the variant accepts). */
  dispatch?: Params[];
}

/** "K=v,K=v" of a parameter set, in key order (for logs and test names). */
export const fmtParams = (p: Params): string =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Params for the family's plan() / reject(): the Vulkan defaults (dispatch values) under the tuned ones. */
export const planParams = (v: HipVariantSpec): Params => ({ ...v.hf.family.defaults, ...v.params });

/**
 * The entry (and its dispatch point) of each step of `plan` at wavefront size `wave`, or the reason a
 * step's point is rejected for this variant (e.g. attention.vec TPR > D/4): such a shape cannot run on it.
 * @throws Error when a plan step lacks one of the family's dispatch parameters in its specOverrides.
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
    const why = dispatchReject(v.hf, v.inst, v.params, d, hipFamilyLimits(v.hf, wave));
    if (why) return { rejected: why };
    entries.push(hipEntryName(v.hf, v.inst.key, d));
    points.push(d);
  }
  return { entries, points };
}

/**
 * The distinct dispatch points the plans of `shapes` need on variant `v` (those it accepts), in
 * first-use order: pass them as `dispatch` to build only those entries (compile time).
 */
export function neededDispatch(v: HipVariantSpec, shapes: unknown[], wave: number): Params[] {
  const out = new Map<string, Params>();
  for (const s of shapes) {
    const pe = planEntries(v, v.hf.family.plan(s, planParams(v), v.inst), wave);
    if (!('rejected' in pe)) pe.entries.forEach((e, i) => out.set(e, pe.points[i]));
  }
  return [...out.values()];
}

/** ggml q8_0 / q4_0 blocks -> kpack's GPU layout (generator/weight-layout.ts) as whole 32-bit words (zero-padded). */
export function gpuWeights(type: QuantType, blocks: Uint8Array): Uint32Array {
  const gpu = toGpuLayout(type, blocks);
  const words = new Uint32Array(Math.ceil(gpu.length / 4));
  new Uint8Array(words.buffer).set(gpu);
  return words;
}

/** A kernel argument of a plan step before buffers are bound: a binding's buffer, or a push field's value. */
export type HipStepArg = { binding: string; fallback?: string } | { u32: number } | { f32: number };

/** One launch of a plan step. */
export interface HipLaunchStep {
  /** Entry-point name (hipEntryName of the step's dispatch point). */
  entry: string;
  /** The step's dispatch point (its values of the family's dispatch parameters). */
  point: Params;
  /** Workgroups (blocks) in x, y, z: the step's `groups`. */
  grid: [number, number, number];
  /** Threads per block: the family's workgroupSize(params). */
  block: [number, number, number];
  /**
   * Arguments in kernel parameter order: bindings (a missing optional one bound to `fallback`, the first
   * binding), then the push fields.
   */
  args: HipStepArg[];
}

/** A family plan() for one shape, mapped onto a HIP variant's entries. */
export interface HipLaunchPlan {
  /** The family's id (error messages). */
  family: string;
  plan: DispatchPlan;
  steps: HipLaunchStep[];
}

/**
 * The launches of variant `v`'s plan for `shape` at wavefront size `wave` (module doc), or the reason
 * the variant cannot run the shape (a step's dispatch point rejected).
 * @throws Error from the family's plan() (invalid shape), or when a step's push bytes are not the
 *   family's push fields (names the family and both counts).
 */
export function hipLaunchPlan(v: HipVariantSpec, shape: unknown, wave: number): HipLaunchPlan | { rejected: string } {
  const fam = v.hf.family;
  const params = planParams(v);
  const plan = fam.plan(shape, params, v.inst);
  const pe = planEntries(v, plan, wave);
  if ('rejected' in pe) return pe;
  const spec = hipArgs(v.hf);
  const block = fam.workgroupSize(params);
  const first = fam.bindings[0].name;
  const fields = spec.filter((a) => a.kind !== 'ptr').length;
  const steps = plan.steps.map((st, i): HipLaunchStep => {
    if (4 * fields !== st.push.byteLength) throw new Error(`${fam.id}: ${fields} push fields for ${st.push.byteLength} push bytes`);
    const view = new DataView(st.push.buffer, st.push.byteOffset, st.push.byteLength);
    let field = 0;
    const args = spec.map((a): HipStepArg => {
      if (a.kind === 'ptr') return fam.bindings.find((b) => b.name === a.name)?.optional ? { binding: a.name, fallback: first } : { binding: a.name };
      const off = 4 * field++;
      return a.kind === 'u32' ? { u32: view.getUint32(off, true) } : { f32: view.getFloat32(off, true) };
    });
    return { entry: pe.entries[i], point: pe.points[i], grid: st.groups, block, args };
  });
  return { family: fam.id, plan, steps };
}

/** A binding's buffer at a byte offset (e.g. the last row of the activations, one token's slot of an id buffer). */
export interface HipBufferBinding {
  buffer: GpuBuffer;
  /** Bytes from the buffer's start (default 0). */
  offset?: number;
}

const isBinding = (b: GpuBuffer | HipBufferBinding): b is HipBufferBinding => 'buffer' in b;
const bytesFrom = (b: GpuBuffer | HipBufferBinding): number => (isBinding(b) ? b.buffer.size - (b.offset ?? 0) : b.size);

/**
 * A zeroed "counters" buffer for plans with DispatchPlan.counterWords (default COUNTER_BYTES, the Vulkan
 * side's size: generator/launch.ts createCounters): the kernels leave it zero, so one buffer, allocated and
 * zeroed once, serves every launch enqueued after another on the context's stream. The caller owns it.
 * @throws Error from createBuffer / upload.
 */
export function createHipCounters(ctx: Pick<HipContext, 'createBuffer' | 'upload'>, bytes = COUNTER_BYTES): GpuBuffer {
  const b = ctx.createBuffer(bytes);
  try {
    ctx.upload(b, new Uint8Array(bytes));
  } catch (e) {
    b.destroy();
    throw e;
  }
  return b;
}

/**
 * Whether the first `words` u32 of a counters buffer are zero (the contract of DispatchPlan.counterWords), read
 * back from the device (blocks until the launches before it finished).
 */
export function hipCountersAtZero(ctx: Pick<HipContext, 'download'>, counters: GpuBuffer, words: number): boolean {
  return words <= 0 || new Uint32Array(ctx.download(counters, 0, 4 * words)).every((v) => v === 0);
}

/**
 * The kernel arguments of every step of `launch` with `buffers` (binding name -> buffer, or buffer at a
 * byte offset) bound. A plan with counterWords > 0 (argmax / attention.vec MERGE 1) must get its zeroed
 * counters on "counters": that optional binding never falls back to the first binding then.
 * @throws Error naming the binding when a required one has no buffer; RangeError when the plan needs
 *   scratch and buffers.scratch is missing or smaller than plan.scratchBytes, or needs counters and
 *   buffers.counters is missing or smaller than 4 * plan.counterWords (names the family and the binding).
 */
export function bindHipPlan(launch: HipLaunchPlan, buffers: Readonly<Record<string, GpuBuffer | HipBufferBinding>>): KernelArg[][] {
  const need = launch.plan.scratchBytes;
  const scratch = buffers.scratch;
  const scratchBytes = scratch ? bytesFrom(scratch) : 0;
  if (need > 0 && !(scratch && scratchBytes >= need)) {
    throw new RangeError(`the plan needs ${need} bytes of scratch, got ${scratch ? scratchBytes : 'no scratch buffer'}`);
  }
  const words = launch.plan.counterWords ?? 0;
  const counters = buffers.counters;
  if (words > 0 && !(counters && bytesFrom(counters) >= 4 * words)) {
    throw new RangeError(`${launch.family}: the plan needs ${words} zeroed u32 counters on "counters", got ${counters ? `${bytesFrom(counters)} bytes` : 'no buffer'}`);
  }
  return launch.steps.map((st) =>
    st.args.map((a): KernelArg => {
      if (!('binding' in a)) return a;
      const b = buffers[a.binding] ?? (a.fallback !== undefined ? buffers[a.fallback] : undefined);
      if (!b) throw new Error(`${st.entry}: no buffer for binding ${a.binding}`);
      return isBinding(b) ? (b.offset ? { buffer: b.buffer, offset: b.offset } : { buffer: b.buffer }) : { buffer: b };
    }),
  );
}

/** The kernels of a loaded code object, by entry name (a native/hip Module). */
export interface HipKernels {
  /** @throws Error when the code object has no entry `name`. */
  fn(name: string): KernelFunction;
}

/** A variant compiled and loaded on a context. */
export interface LoadedHipVariant {
  spec: HipVariantSpec;
  /** Wavefront size its source was rendered for (the device's warp size). */
  wave: number;
  module: HipKernels;
}

/**
 * Enqueue every step of `launch` on ctx's stream with `buffers` bound (bindHipPlan); returns at once
 * (a kernel fault surfaces at the next blocking call). @throws as bindHipPlan, kernels.fn and ctx.launch.
 */
export function enqueueHipPlan(ctx: HipContext, kernels: HipKernels, launch: HipLaunchPlan, buffers: Readonly<Record<string, GpuBuffer | HipBufferBinding>>): void {
  const args = bindHipPlan(launch, buffers);
  launch.steps.forEach((st, i) => ctx.launch(kernels.fn(st.entry), st.grid, st.block, args[i]));
}


/** The dispatch parameter whose values split a family's runtime entries into separate sources (compile only what a model uses). */
export const HIP_SOURCE_GROUP: Readonly<Record<string, string>> = { 'matmul.vec': 'NCOLS', 'attention.vec': 'D', 'attention.tile': 'D' };

/**
 * Whether the runtime (runtime/model/llama-hip.ts) may launch dispatch point `d`: it records positions
 * into the push constants (never DYNAMIC 1), and fuses GLU only with NORM (gate|up after the norm).
 */
export const runtimeUsesPoint = (d: Params): boolean => !d.DYNAMIC && !(d.GLU && !d.NORM);

/**
 * The dispatch points the runtime may launch on variant (hf, inst, params) at wavefront size `wave`
 * (runtimeUsesPoint, accepted by the family's reject()), and also by `keep` when given, grouped into one
 * list per source: by HIP_SOURCE_GROUP's parameter (matmul.vec one source per NCOLS, attention one per
 * head dim), else all in one. Families without dispatch parameters: one group holding the point {}.
 * Groups in the family's point order; empty groups left out.
 */
export function runtimeSourceGroups(hf: HipFamily, inst: TemplateInstance, params: Params, wave: number, keep?: (d: Params) => boolean): Params[][] {
  const limits = hipFamilyLimits(hf, wave);
  const pts = dispatchPoints(hf).filter((d) => runtimeUsesPoint(d) && (!keep || keep(d)) && dispatchReject(hf, inst, params, d, limits) === null);
  const by = HIP_SOURCE_GROUP[hf.family.id];
  const groups = new Map<string, Params[]>();
  for (const d of pts) {
    const k = by ? String(d[by]) : '';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(d);
  }
  return [...groups.values()];
}

/** A rendered HIP source the runtime compiles: its text, sha256 (hex, of the UTF-8 text) and the extern "C" entries it defines. */
export interface HipSourceUnit {
  sha256: string;
  entries: string[];
  text: string;
}

/** Format tag and version of the HIP default-source bundle (`kpack generate`: <kernels>/hip/manifest.json). */
export const HIP_SOURCES_FORMAT = 'kpack-hip-sources';
export const HIP_SOURCES_VERSION = 1;

/**
 * One source of the HIP default-source bundle: the HIP defaults (hipDefaults) of one family instance at
 * one wavefront size, for one group of runtime dispatch points; its text is `src/<sha256>.hip`.
 */
export interface HipDefaultSourceRecord {
  family: string;
  instance: string;
  wave: number;
  params: Params;
  entries: string[];
  sha256: string;
  /** Path of the text relative to the manifest's directory. */
  file: string;
}

/** The HIP default-source bundle's manifest (<kernels>/hip/manifest.json). */
export interface HipDefaultSourcesManifest {
  format: typeof HIP_SOURCES_FORMAT;
  version: number;
  createdAt: string;
  /** Wavefront sizes rendered (32: NVIDIA and RDNA; 64: CDNA / GCN). */
  waves: number[];
  sources: HipDefaultSourceRecord[];
}
