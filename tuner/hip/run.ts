/**
 * Running and timing the HIP ports of the kernel families (generator/hip) on a HIP / CUDA device
 * (native/hip): the HIP counterpart of generator/launch.ts + tuner/timing.ts. The plan -> launch mapping
 * is generator/hip/launch.ts's (re-exported here).
 *
 * A variant (HipVariantSpec) is rendered (generator/hip/render.ts) at the device's wavefront size,
 * compiled (NVRTC on NVIDIA, hiprtc on AMD) and loaded once per distinct source (HipModuleCache). Its
 * family's plan() for a shape becomes a HipLaunchPlan: per step the entry hipEntryName(step's
 * specOverrides), grid = step.groups, block = workgroupSize(params), and the kernel arguments = one
 * pointer per family binding in binding order, then the push-constant fields decoded from step.push in
 * hipArgs order (u32 / f32, little-endian). An optional binding the caller does not bind gets the
 * first binding's buffer (the entries of such plans never read it), except "counters" of a plan with
 * counterWords (argmax / attention.vec MERGE 1): the caller binds zeroed counters (createHipCounters;
 * tuner/hip/problems.ts uploadHipSets shares one buffer among the sets), which the kernels leave zero. The
 * templates use static shared memory only, so no dynamic shared bytes are passed.
 *
 * Timing protocol (timeHipVariant): one probe repetition, then untimed repetitions keeping the GPU busy
 * for `warmupMs` (clocks ramp up as in a running model), then batches of repetitions; a repetition
 * launches every step of the plan, and repetition i binds buffer set i % bufferSets.length, so
 * consecutive repetitions read weights at other addresses (hipRotationSets: sets together at least
 * twice the L2, so weights come from HBM). Each batch starts with a few untimed "lead" repetitions so
 * the host's launches run ahead of the GPU, then brackets each repetition with ctx.timestamp() events
 * (one event between consecutive repetitions). Sample = GPU time between the events around a
 * repetition, ns. A kernel shorter than the host's launch cost (~2-5 us per launch) is timed at the
 * launch rate, not its own speed. Inputs must hold random data: zeros run faster on some hardware.
 */
import { type HeatOptions, type HeatResult, heatWindows } from '../timing';
import { quantileSorted } from 'simple-statistics';
import { type HipFamily, hipPrunedSpace } from '../../generator/hip/families';
import { type HipVariantSpec, type LoadedHipVariant, bindHipPlan, fmtParams, hipLaunchPlan } from '../../generator/hip/launch';
import { type RenderedHip, renderHip } from '../../generator/hip/render';
import type { Params, TemplateInstance } from '../../generator/schema';
import type { GpuBuffer, HipContext, HipDeviceInfo, Module } from '../../native/hip/api';

// The launch-plan pieces live in generator/hip/launch.ts (the runtime needs them without the template engine).
export {
  type HipBufferBinding,
  type HipKernels,
  type HipLaunchPlan,
  type HipLaunchStep,
  type HipStepArg,
  type HipVariantSpec,
  type LoadedHipVariant,
  bindHipPlan,
  createHipCounters,
  enqueueHipPlan,
  fmtParams,
  gpuWeights,
  hipCountersAtZero,
  hipLaunchPlan,
  neededDispatch,
  planEntries,
  planParams,
} from '../../generator/hip/launch';

/**
 * The rendered source of a variant at wavefront size `wave`: its `dispatch` points, else every one it
 * accepts (one code object per variant). @throws Error from renderHip (rejected variant or point).
 */
export const renderVariant = (v: HipVariantSpec, wave: number): RenderedHip => renderHip({ hf: v.hf, instance: v.inst, params: v.params, wave, dispatch: v.dispatch });

/**
 * The tuned space of a HIP family instance on `device`: hipPrunedSpace at its warp size with its shared
 * memory per block (without opt-in, at most 64 KiB) as the LDS bound, and its arch as the target when
 * given (a matrix family is empty on an arch without a matrix instruction); on CUDA only WAVES_PER_EU 0 is
 * kept, since that hint is an AMD attribute and every value compiles to the same CUDA kernel.
 */
export function hipDeviceSpace(hf: HipFamily, inst: TemplateInstance, device: Pick<HipDeviceInfo, 'api' | 'warpSize' | 'sharedMemPerBlock'> & { arch?: string }): Params[] {
  const kept = hipPrunedSpace(hf, inst, device.warpSize, Math.min(65536, device.sharedMemPerBlock), device.arch).kept;
  return device.api === 'cuda' ? kept.filter((p) => !p.WAVES_PER_EU) : kept;
}

/**
 * Compiled modules of one context, one per distinct rendered source (sha256), rendered at the device's
 * warp size. Failed compiles are not cached (the next load() compiles again).
 */
export class HipModuleCache {
  private readonly modules = new Map<string, Module>();
  /** Sources compiled so far, and their total compile + load time, ms. */
  compiles = 0;
  compileMs = 0;

  constructor(readonly ctx: HipContext) {}

  /**
   * Variant `spec` compiled and loaded (once per source).
   * @throws Error from renderHip (rejected variant or dispatch point) or from compile (the compiler log
   *   in the message and `.log`; "NVRTC unavailable: ..." without the compiler library).
   */
  load(spec: HipVariantSpec): LoadedHipVariant {
    const wave = this.ctx.device.warpSize;
    const r = renderVariant(spec, wave);
    let m = this.modules.get(r.sourceSha256);
    if (!m) {
      const t0 = performance.now();
      m = this.ctx.compile(r.source, { name: `${spec.hf.family.id}_${spec.inst.key}.hip` });
      this.compileMs += performance.now() - t0;
      this.compiles++;
      this.modules.set(r.sourceSha256, m);
    }
    return { spec, wave, module: m };
  }

  /** Unload every module (after the launches in flight); the cache stays usable. */
  destroy(): void {
    for (const m of this.modules.values()) m.destroy();
    this.modules.clear();
  }
}

/** The H200's (and H100's) L2 cache, bytes: the default of hipRotationSets. */
export const H200_L2_BYTES = 50 * 1024 * 1024;
/** Most buffer sets hipRotationSets asks for (bounds device memory and upload time). */
export const MAX_HIP_ROTATION_SETS = 16;

/**
 * How many input sets (of `inputBytes` each) to rotate among so that the sets together span at least
 * twice the L2 (`l2Bytes`): 1 when one set does, else ceil(2 * l2Bytes / inputBytes), at most
 * MAX_HIP_ROTATION_SETS (e.g. 33 MB of q4_0 weights -> 4 sets; 8.4 MB of K/V -> 13).
 */
export function hipRotationSets(inputBytes: number, l2Bytes = H200_L2_BYTES): number {
  if (inputBytes >= 2 * l2Bytes) return 1;
  return Math.min(MAX_HIP_ROTATION_SETS, Math.ceil((2 * l2Bytes) / Math.max(1, inputBytes)));
}

/** Median and spread of timing samples, ns. */
export interface HipTimingSummary {
  /** Number of samples. */
  n: number;
  medianNs: number;
  /** 10th / 90th percentiles (linear interpolation, numpy's default), ns. */
  p10Ns: number;
  p90Ns: number;
}

/**
 * Median, p10 and p90 of samples (ns), with simple-statistics' quantileSorted.
 * @throws RangeError on an empty sample or a non-finite value.
 */
export function summarizeHipSamples(samplesNs: ArrayLike<number>): HipTimingSummary {
  const xs = Array.from(samplesNs);
  if (xs.length === 0) throw new RangeError('summarizeHipSamples: no samples');
  if (xs.some((x) => !Number.isFinite(x))) throw new RangeError('summarizeHipSamples: non-finite sample');
  xs.sort((a, b) => a - b);
  return { n: xs.length, medianNs: quantileSorted(xs, 0.5), p10Ns: quantileSorted(xs, 0.1), p90Ns: quantileSorted(xs, 0.9) };
}

/** Most repetitions of one timed batch (each records one event; the native cap is 4096 per round). */
export const MAX_HIP_REPS_PER_BATCH = 1000;
/** Most untimed warm-up repetitions (bounds host time for very short kernels). */
export const MAX_HIP_WARMUP_REPS = 20000;

/** timeHipVariant options. */
export interface HipTimingOptions {
  /** GPU-busy warm-up before timing, ms at the probe's time per repetition (default 30; a probe at idle clocks makes it shorter: heatHip before timings that must compare). */
  warmupMs?: number;
  /** Timed repetitions (samples) to collect (default 100). */
  reps?: number;
  /** Wall-clock cap on the timed batches, ms (default 2000): stops early with fewer samples (at least one batch). */
  maxTimeMs?: number;
  /** Repetitions per timed batch (default: ~20 ms of GPU work from the probe, 1..MAX_HIP_REPS_PER_BATCH). */
  repsPerBatch?: number;
  /** GPU work queued untimed at the start of each batch so the launches run ahead of the GPU, us (default 100; at least one repetition). */
  leadUs?: number;
}

/** timeHipVariant's result: the summary of per-repetition GPU times (ns) and how they were taken. */
export interface HipTimingResult extends HipTimingSummary {
  /** Buffer sets rotated. */
  sets: number;
  /** Untimed warm-up repetitions run. */
  warmupReps: number;
  /** True when maxTimeMs stopped the run before `reps` samples. */
  stoppedByTime: boolean;
}

/**
 * Time `variant` on `shape` (protocol in the module doc): GPU ns per repetition of the whole plan.
 * `bufferSets` are binding-name -> buffer maps, each with every required binding of the family (and
 * "scratch" of at least the plan's scratchBytes when it needs one), rotated per repetition; outputs may
 * be shared between sets; a plan with counterWords needs zeroed "counters" (left zero by every repetition).
 * Any timestamps recorded before the call are discarded.
 * @throws Error when bufferSets is empty, when the variant rejects the shape's plan (the reason), or
 *   as bindHipPlan / ctx.launch / ctx.timestamps (a kernel fault names the driver error); RangeError
 *   for reps < 1.
 */
export function timeHipVariant(ctx: HipContext, variant: LoadedHipVariant, shape: unknown, bufferSets: ReadonlyArray<Readonly<Record<string, GpuBuffer>>>, opts: HipTimingOptions = {}): HipTimingResult {
  const id = `${variant.spec.hf.family.id}/${variant.spec.inst.key} ${fmtParams(variant.spec.params)}`;
  if (bufferSets.length === 0) throw new Error(`timeHipVariant ${id}: no buffer sets`);
  const reps = opts.reps ?? 100;
  if (!(reps >= 1)) throw new RangeError(`timeHipVariant ${id}: reps ${reps} < 1`);
  const launch = hipLaunchPlan(variant.spec, shape, variant.wave);
  if ('rejected' in launch) throw new Error(`timeHipVariant ${id}: cannot run ${JSON.stringify(shape)}: ${launch.rejected}`);
  const fns = launch.steps.map((st) => variant.module.fn(st.entry));
  const argSets = bufferSets.map((set) => bindHipPlan(launch, set));
  const { steps } = launch;
  let rep = 0; // repetitions enqueued in this call: the rotation index
  const enqueueReps = (count: number): void => {
    for (let r = 0; r < count; r++) {
      const args = argSets[rep++ % argSets.length];
      for (let i = 0; i < steps.length; i++) ctx.launch(fns[i], steps[i].grid, steps[i].block, args[i]);
    }
  };
  /** `lead` untimed repetitions, then `count` timed ones between events: their GPU ns. */
  const timedBatch = (lead: number, count: number): number[] => {
    enqueueReps(lead);
    ctx.timestamp();
    for (let r = 0; r < count; r++) {
      enqueueReps(1);
      ctx.timestamp();
    }
    const ts = ctx.timestamps();
    const out: number[] = [];
    for (let r = 0; r < count; r++) out.push(ts[r + 1] - ts[r]);
    return out;
  };

  ctx.timestamps(); // a fresh round of events
  const probeNs = Math.max(timedBatch(0, 1)[0], 1);
  const warmupReps = Math.min(MAX_HIP_WARMUP_REPS, Math.ceil(((opts.warmupMs ?? 30) * 1e6) / probeNs));
  enqueueReps(warmupReps);
  ctx.synchronize();
  const perBatch = Math.max(1, Math.min(MAX_HIP_REPS_PER_BATCH, opts.repsPerBatch ?? Math.round(20e6 / probeNs)));
  const lead = Math.max(1, Math.ceil(((opts.leadUs ?? 100) * 1e3) / probeNs));
  const maxTimeMs = opts.maxTimeMs ?? 2000;
  const samples: number[] = [];
  const start = performance.now();
  let stoppedByTime = false;
  while (samples.length < reps) {
    if (samples.length > 0 && performance.now() - start >= maxTimeMs) {
      stoppedByTime = true;
      break;
    }
    samples.push(...timedBatch(lead, Math.min(perBatch, reps - samples.length)));
  }
  return { ...summarizeHipSamples(samples), sets: bufferSets.length, warmupReps, stoppedByTime };
}

/**
 * Bring the GPU to its speed under sustained load before timings that must compare at that speed (see
 * tuner/timing.ts heatUp, the Vulkan twin): timed batches of `variant` of ~5 ms each, back to back, until
 * the medians of the last `windows` windows of `windowMs` agree within `tolerance` (max / min - 1), or
 * after `maxMs`. Returns the window medians (ns), the time spent (ms) and whether they agreed.
 * @throws as timeHipVariant.
 */
export function heatHip(
  ctx: HipContext,
  variant: LoadedHipVariant,
  shape: unknown,
  bufferSets: ReadonlyArray<Readonly<Record<string, GpuBuffer>>>,
  opts: HeatOptions = {},
): HeatResult {
  // one batch = one timeHipVariant call of `reps` repetitions, standing for its median `reps` times
  return heatWindows((reps) => new Array(reps).fill(timeHipVariant(ctx, variant, shape, bufferSets, { warmupMs: 0, reps, repsPerBatch: reps, leadUs: 0 }).medianNs), opts);
}
