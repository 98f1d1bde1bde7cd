/**
 * Timing one variant on one shape with GPU timestamps.
 *
 * Protocol: one timed probe repetition; untimed warm-up submissions until `warmupMs` of wall-clock time
 * has passed (by the clock, not by the probe's time: a probe run at idle clocks made warm-ups shorter than
 * asked); then submissions ("batches") of `repsPerBatch` repetitions,
 * each repetition bracketed by timestamps (Sequence.timestamp; the launcher puts a barrier after
 * every dispatch, so a timestamp follows the completion of the previous repetition). Repetition i of
 * the whole run binds buffer set i % sets.length, so inputs rotate through several copies when they
 * are small enough to stay in the last-level cache (see rotationSets). Batches continue until the
 * 95% CI half-width of the median is below `targetRelCi` of the median (after `minReps`), or
 * `maxReps` / `maxTimeMs` is reached. Devices without timestamps fall back to host wall-clock per
 * batch / reps (documented in the result's `clock`).
 * Inputs must hold random data (problems.ts): zeros make some hardware faster (power, compression).
 *
 * A short warm-up does not bring every GPU to its running speed: an H200 kept the same decode attention
 * kernel at ~70 us for the first ~300 ms of continuous load and reached ~27 us only after ~1.3 s
 * (docs/runs/2026-12-03c/3-clock-ramp.txt), and a decode step runs at the fast speed. `heatUp` runs a
 * kernel until its time is stable over several windows; the tuner calls it before the timings that decide
 * a bucket, bench-ops before each row.
 */
import type { LaunchableVariant, PipelineCache } from '../generator/launch';
import { recordVariant } from '../generator/launch';
import type { Binding, Context, GpuBuffer, Sequence } from '../native/vulkan/api';
import { type Summary, summarize } from './stats';

/** Inputs below this size (bytes) are assumed to fit in the last-level cache (H100/H200 L2 is 50 MB; MI300X's Infinity Cache 256 MB is not covered). */
export const CACHE_RESIDENT_BYTES = 64 * 1024 * 1024;
/** Upper bound of rotated input sets (bounds memory and upload time). */
export const MAX_ROTATION_SETS = 8;

/**
 * Input sets to rotate among so that consecutive repetitions never find their inputs in cache:
 * 1 when the inputs are >= CACHE_RESIDENT_BYTES, else ceil(2 * CACHE_RESIDENT_BYTES / inputBytes)
 * capped at MAX_ROTATION_SETS (e.g. 32 MB of inputs -> 4 sets; 1 MB -> 8 sets).
 */
export function rotationSets(inputBytes: number, cacheBytes = CACHE_RESIDENT_BYTES): number {
  if (inputBytes >= cacheBytes) return 1;
  return Math.min(MAX_ROTATION_SETS, Math.max(2, Math.ceil((2 * cacheBytes) / Math.max(1, inputBytes))));
}

/** Most repetitions one submission records (each takes a timestamp; the native cap is 1024). */
export const MAX_REPS_PER_BATCH = 500;

export interface TimingOptions {
  /** Wall-clock warm-up before timing, ms of untimed submissions (default 30). */
  warmupMs?: number;
  /** Repetitions per submission (default: sized from the probe so a batch keeps the GPU busy ~20 ms, 1..MAX_REPS_PER_BATCH). */
  repsPerBatch?: number;
  /** Minimum timed repetitions before the CI criterion may stop (default 10). */
  minReps?: number;
  /** Maximum timed repetitions (default 1000). */
  maxReps?: number;
  /** Wall-clock cap for the timed submissions (after the warm-up), ms (default 3000). */
  maxTimeMs?: number;
  /** Stop when the median's 95% CI half-width / median is below this (default 0.02). */
  targetRelCi?: number;
  /** Effort in (0, 1]: scales minReps (>= 3), maxReps (>= 5) and maxTimeMs (default 1). */
  effort?: number;
}

/** GPU work per warm-up and heat-up submission, ns (5 ms). */
export const HEAT_BATCH_NS = 5e6;

export interface TimingResult extends Summary {
  /** 'gpu' (timestamps) or 'host' (wall-clock fallback). */
  clock: 'gpu' | 'host';
  /** Buffer sets rotated. */
  sets: number;
  /** Whether the CI target was met (false: stopped by maxReps/maxTimeMs). */
  converged: boolean;
}

/**
 * Records and submits `reps` repetitions of `variant` on `seq`, repetition i of the runner's lifetime on
 * buffer set i % sets.length; timed (and on a device with timestamps): a timestamp around each repetition
 * and their GPU ns returned; timed without timestamps: host ns / reps each; untimed: [host ns of the submit].
 */
function submissionRunner<Shape>(
  seq: Sequence,
  pipelineCache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  shape: Shape,
  bufferSets: Array<Record<string, GpuBuffer | Binding>>,
  plan: ReturnType<LaunchableVariant<Shape>['family']['plan']>,
  gpuClock: boolean,
): (reps: number, timed: boolean) => number[] {
  let rep = 0;
  return (reps, timed) => {
    seq.reset();
    for (let i = 0; i < reps; i++) {
      if (timed && gpuClock) seq.timestamp();
      recordVariant(seq, pipelineCache, variant, shape, bufferSets[rep++ % bufferSets.length], plan);
    }
    if (timed && gpuClock) seq.timestamp();
    const t0 = performance.now();
    seq.submit();
    const hostNs = (performance.now() - t0) * 1e6;
    if (!timed) return [hostNs];
    if (!gpuClock) return new Array(reps).fill(hostNs / reps);
    const ts = seq.timestamps();
    return Array.from({ length: reps }, (_, i) => ts[i + 1] - ts[i]);
  };
}

/**
 * Time `variant` on `shape`; `bufferSets` are binding-name -> buffer maps (all the variant's
 * bindings, "scratch" sized for its plan), rotated per repetition.
 * @returns the summary of per-repetition times, ns.
 * @throws Error from the native layer (pipeline creation, submission) or when bufferSets is empty.
 */
export function timeVariant<Shape>(
  ctx: Context,
  pipelineCache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  shape: Shape,
  bufferSets: Array<Record<string, GpuBuffer | Binding>>,
  opts: TimingOptions = {},
): TimingResult {
  if (bufferSets.length === 0) throw new Error('timeVariant: no buffer sets');
  const effort = Math.min(1, Math.max(opts.effort ?? 1, 1e-3));
  const minReps = Math.max(3, Math.round((opts.minReps ?? 10) * effort));
  const maxReps = Math.max(5, Math.round((opts.maxReps ?? 1000) * effort));
  const maxTimeMs = (opts.maxTimeMs ?? 3000) * effort;
  const target = opts.targetRelCi ?? 0.02;
  const gpuClock = ctx.device.timestamps;
  const plan = variant.family.plan(shape, variant.params, variant.instance);
  const seq = ctx.createSequence();
  const batch = submissionRunner(seq, pipelineCache, variant, shape, bufferSets, plan, gpuClock);
  try {
    const start = performance.now();
    let perRepNs = Math.max(batch(1, true)[0], 1);
    const repsFor = (ns: number) => Math.min(MAX_REPS_PER_BATCH, Math.max(1, Math.round(ns / perRepNs)));
    // warm-up by the wall clock: the probe may have run at idle clocks, so it does not predict how long
    // a number of repetitions keeps the GPU busy once clocks rise
    const warmupMs = opts.warmupMs ?? 30;
    while (performance.now() - start < warmupMs) {
      const reps = repsFor(HEAT_BATCH_NS);
      perRepNs = Math.max(1, Math.min(perRepNs, batch(reps, false)[0] / reps));
    }
    const perBatch = opts.repsPerBatch ?? repsFor(20e6);
    const samples: number[] = [];
    let s: Summary | null = null;
    const done = (converged: boolean): TimingResult => ({ ...s!, clock: gpuClock ? 'gpu' : 'host', sets: bufferSets.length, converged });
    const timedStart = performance.now();
    for (;;) {
      samples.push(...batch(Math.min(perBatch, maxReps - samples.length), true));
      s = summarize(samples);
      if (samples.length >= minReps && s.relCiHalfWidth < target) return done(true);
      if (samples.length >= maxReps || performance.now() - timedStart >= maxTimeMs) break;
    }
    return done(false);
  } finally {
    seq.destroy();
  }
}

export interface HeatOptions {
  /** Length of one window, ms (default 200). */
  windowMs?: number;
  /** Consecutive windows whose medians must agree (default 3). */
  windows?: number;
  /** Relative spread allowed among those windows' medians (default 0.03). */
  tolerance?: number;
  /** Wall-clock cap, ms (default 2500 on GPUs, 0 on CPU devices, which have no clocks to ramp). */
  maxMs?: number;
}

export interface HeatResult {
  /** Wall-clock time spent, ms. */
  ms: number;
  /** Whether the last `windows` window medians agreed within the tolerance before maxMs. */
  stable: boolean;
  /** Median per-repetition time of each window, ns, in order. */
  windowMediansNs: number[];
}

/** HeatOptions.maxMs unless given: 2500 ms on GPUs, 0 (no heat-up) on CPU devices. */
export function defaultHeatMaxMs(device: { deviceType: string }): number {
  return device.deviceType === 'cpu' ? 0 : 2500;
}

/**
 * Bring the GPU to the speed it runs at under sustained load: run `variant` on `shape` back to back in
 * timed submissions of ~HEAT_BATCH_NS each, and stop when the medians of the last `windows` windows of
 * `windowMs` agree within `tolerance` (max / min - 1), or after `maxMs`. Nothing is recorded; call it right
 * before timings that must compare at that speed (the GPU should not idle between them).
 * @throws Error from the native layer (pipeline creation, submission) or when bufferSets is empty.
 */
export function heatUp<Shape>(
  ctx: Context,
  pipelineCache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  shape: Shape,
  bufferSets: Array<Record<string, GpuBuffer | Binding>>,
  opts: HeatOptions = {},
): HeatResult {
  if (bufferSets.length === 0) throw new Error('heatUp: no buffer sets');
  const maxMs = opts.maxMs ?? defaultHeatMaxMs(ctx.device);
  if (maxMs <= 0 || !ctx.device.timestamps) return { ms: 0, stable: false, windowMediansNs: [] };
  const seq = ctx.createSequence();
  try {
    const batch = submissionRunner(seq, pipelineCache, variant, shape, bufferSets, variant.family.plan(shape, variant.params, variant.instance), true);
    return heatWindows((reps) => batch(reps, true), { ...opts, maxMs });
  } finally {
    seq.destroy();
  }
}

/**
 * heatUp's loop over any timed batch runner (`batch(reps)` returns per-repetition GPU ns): batches of
 * ~HEAT_BATCH_NS back to back, window medians, stop when the last `windows` agree within `tolerance` or
 * after `maxMs` (default 2500). Shared by heatUp (Vulkan) and tuner/hip/run.ts heatHip.
 */
export function heatWindows(batch: (reps: number) => number[], opts: HeatOptions = {}): HeatResult {
  const windowMs = opts.windowMs ?? 200;
  const windows = Math.max(2, opts.windows ?? 3);
  const tol = opts.tolerance ?? 0.03;
  const maxMs = opts.maxMs ?? 2500;
  const start = performance.now();
  const out: HeatResult = { ms: 0, stable: false, windowMediansNs: [] };
  let perRepNs = Math.max(1, batch(1)[0]);
  let win: number[] = [];
  let winStart = performance.now();
  while (performance.now() - start < maxMs) {
    const t = batch(Math.min(MAX_REPS_PER_BATCH, Math.max(1, Math.round(HEAT_BATCH_NS / perRepNs))));
    perRepNs = Math.max(1, summarize(t).medianNs);
    win.push(...t);
    if (performance.now() - winStart < windowMs) continue;
    out.windowMediansNs.push(summarize(win).medianNs);
    win = [];
    winStart = performance.now();
    const last = out.windowMediansNs.slice(-windows);
    if (last.length === windows && Math.max(...last) / Math.min(...last) - 1 <= tol) {
      out.stable = true;
      break;
    }
  }
  out.ms = performance.now() - start;
  return out;
}

/**
 * GPU time of one dependent dispatch: `count` calls of `variant` on `shape` (a tiny kernel: its own work is
 * negligible) recorded with recordVariant, so a barrier follows each dispatch, between two timestamps, in one
 * submission; the median over `reps` submissions after an untimed one. What a recorded step pays per dispatch
 * before any work: the barrier's wait for the previous dispatch, then the launch (docs/runs/2026-12-07d/chain.js:
 * 2.26 us on an H100 with stage-exact barriers, 5.26 us with full ones).
 * @param buffers the variant's bindings (one set; the kernel's result is never read).
 * @returns ns per dispatch (per plan step when the plan has several), or null on a device without timestamps.
 * @throws Error from the native layer (pipeline creation, submission); RangeError when count or reps < 1.
 */
export function dependentDispatchNs<Shape>(
  ctx: Context,
  pipelineCache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  shape: Shape,
  buffers: Record<string, GpuBuffer | Binding>,
  opts: { count?: number; reps?: number } = {},
): number | null {
  const count = opts.count ?? 256;
  const reps = opts.reps ?? 9;
  if (!(count >= 1 && reps >= 1)) throw new RangeError(`dependentDispatchNs: count ${count} and reps ${reps} must be >= 1`);
  if (!ctx.device.timestamps) return null;
  const steps = variant.family.plan(shape, variant.params, variant.instance).steps.length;
  const seq = ctx.createSequence();
  try {
    const perDispatch: number[] = [];
    for (let r = 0; r <= reps; r++) {
      seq.reset();
      seq.timestamp();
      for (let i = 0; i < count; i++) recordVariant(seq, pipelineCache, variant, shape, buffers);
      seq.timestamp();
      seq.submit();
      const ts = seq.timestamps();
      if (r > 0) perDispatch.push((ts[1] - ts[0]) / (count * steps));
    }
    return summarize(perDispatch).medianNs;
  } finally {
    seq.destroy();
  }
}
