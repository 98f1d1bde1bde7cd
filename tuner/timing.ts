/**
 * Timing one variant on one shape with GPU timestamps.
 *
 * Protocol: one timed probe repetition; untimed warm-up submissions until `warmupMs` of wall-clock time
 * has passed; then "settle" submissions of about SETTLE_BATCH_MS of GPU work each, timed, until the
 * medians of two in a row agree within SETTLE_TOLERANCE (at most `settleMaxMs`): clocks have then
 * ramped up as they have in a running model. (GEMVs and decode attention on an H200 timed 2-4x slower
 * after a fixed short warm-up than the same kernels inside a decode step, because the probe, run at idle
 * clocks, made the warm-up shorter than asked and the GPU idles during validation between variants.)
 * Then submissions ("batches") of `repsPerBatch` repetitions,
 * each repetition bracketed by timestamps (Sequence.timestamp; the launcher puts a barrier after
 * every dispatch, so a timestamp follows the completion of the previous repetition). Repetition i of
 * the whole run binds buffer set i % sets.length, so inputs rotate through several copies when they
 * are small enough to stay in the last-level cache (see rotationSets). Batches continue until the
 * 95% CI half-width of the median is below `targetRelCi` of the median (after `minReps`), or
 * `maxReps` / `maxTimeMs` is reached. Devices without timestamps fall back to host wall-clock per
 * batch / reps (documented in the result's `clock`).
 * Inputs must hold random data (problems.ts): zeros make some hardware faster (power, compression).
 */
import type { LaunchableVariant, PipelineCache } from '../generator/launch';
import { recordVariant } from '../generator/launch';
import type { Binding, Context, GpuBuffer } from '../native/vulkan/api';
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
  /** Most wall-clock time of settle submissions after the warm-up, ms (default 300 on GPUs; 0 = none, the default on CPU devices, which have no clocks to ramp). */
  settleMaxMs?: number;
  /** Repetitions per submission (default: sized from the probe so a batch keeps the GPU busy ~20 ms, 1..MAX_REPS_PER_BATCH). */
  repsPerBatch?: number;
  /** Minimum timed repetitions before the CI criterion may stop (default 10). */
  minReps?: number;
  /** Maximum timed repetitions (default 1000). */
  maxReps?: number;
  /** Wall-clock cap for the timed submissions (after warm-up and settling), ms (default 3000). */
  maxTimeMs?: number;
  /** Stop when the median's 95% CI half-width / median is below this (default 0.02). */
  targetRelCi?: number;
  /** Effort in (0, 1]: scales minReps (>= 3), maxReps (>= 5) and maxTimeMs (default 1). */
  effort?: number;
}

/** GPU work per warm-up and settle submission, ns (5 ms). */
export const SETTLE_BATCH_NS = 5e6;
/** Two consecutive settle medians within this relative difference end the settling. */
export const SETTLE_TOLERANCE = 0.03;

export interface TimingResult extends Summary {
  /** 'gpu' (timestamps) or 'host' (wall-clock fallback). */
  clock: 'gpu' | 'host';
  /** Buffer sets rotated. */
  sets: number;
  /** Whether the CI target was met (false: stopped by maxReps/maxTimeMs). */
  converged: boolean;
  /** Settle submissions run and whether their medians agreed before settleMaxMs. */
  settle: { batches: number; settled: boolean };
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
  let rep = 0; // global repetition counter (rotation index)
  const batch = (reps: number, timed: boolean): number[] => {
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
    const out: number[] = [];
    for (let i = 0; i < reps; i++) out.push(ts[i + 1] - ts[i]);
    return out;
  };
  try {
    const start = performance.now();
    let perRepNs = Math.max(batch(1, true)[0], 1);
    const repsFor = (ns: number) => Math.min(MAX_REPS_PER_BATCH, Math.max(1, Math.round(ns / perRepNs)));
    // warm-up by the wall clock: the probe may have run at idle clocks, so it does not predict how long
    // a number of repetitions keeps the GPU busy once clocks rise
    const warmupMs = opts.warmupMs ?? 30;
    while (performance.now() - start < warmupMs) {
      const reps = repsFor(SETTLE_BATCH_NS);
      perRepNs = Math.max(1, Math.min(perRepNs, batch(reps, false)[0] / reps));
    }
    const settleMaxMs = opts.settleMaxMs ?? (ctx.device.deviceType === 'cpu' ? 0 : 300);
    const settleEnd = performance.now() + settleMaxMs;
    const settle = { batches: 0, settled: false };
    if (gpuClock && settleMaxMs > 0) {
      let prev = 0;
      while (!settle.settled && performance.now() < settleEnd) {
        const m = summarize(batch(repsFor(SETTLE_BATCH_NS), true)).medianNs;
        settle.batches++;
        settle.settled = prev > 0 && Math.abs(m - prev) <= SETTLE_TOLERANCE * prev;
        prev = m;
        perRepNs = Math.max(1, m);
      }
    }
    const perBatch = opts.repsPerBatch ?? repsFor(20e6);
    const samples: number[] = [];
    let s: Summary | null = null;
    const done = (converged: boolean): TimingResult => ({ ...s!, clock: gpuClock ? 'gpu' : 'host', sets: bufferSets.length, converged, settle });
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
