/**
 * Roofline of the device under tuning: memory bandwidth measured in the same run (vkCmdCopyBuffer or the
 * copy kernel family on a large buffer, (bytes read + bytes written) / time), FLOP peak from an option or a small table of
 * vendor datasheet numbers (dense, no sparsity), else unknown (memory roofline only).
 * Roofline time of a workload = max(flops / peak, minBytes / bandwidth) (Williams, Waterman &
 * Patterson, "Roofline", CACM 2009); percent of roofline = 100 * roofline time / measured time.
 */
import { type LaunchableVariant, type PipelineCache, recordVariant } from '../generator/launch';
import type { CopyShape } from '../generator/ops';
import { type DeviceLimits, parameterSpace } from '../generator/schema';
import type { Context, DeviceInfo, GpuBuffer, Sequence } from '../native/vulkan/api';
import { summarize } from './stats';
import type { Workload } from './workloads';

export interface PeakFlops {
  /** FLOP/s reachable with f16 inputs (tensor cores / coopmat, f32 accumulate), dense. */
  f16: number;
  /** FLOP/s of plain f32 FMA (non-tensor). */
  f32: number;
}

/**
 * Datasheet peaks (FLOP/s, dense), first regex match on the device name wins. Sources: NVIDIA H100
 * datasheet (SXM: 989.4 TF f16 tensor, 66.9 TF f32; PCIe: 756 / 51.2), H200 datasheet (= H100 SXM),
 * A100 datasheet (312 / 19.5), RTX 4090 Ada whitepaper (165.2 f16 with f32 accumulate / 82.6).
 */
export const PEAK_TABLE: Array<{ match: RegExp; peak: PeakFlops }> = [
  { match: /H200/i, peak: { f16: 989.4e12, f32: 66.9e12 } },
  { match: /H100.*PCIe/i, peak: { f16: 756e12, f32: 51.2e12 } },
  { match: /H100/i, peak: { f16: 989.4e12, f32: 66.9e12 } },
  { match: /A100/i, peak: { f16: 312e12, f32: 19.5e12 } },
  { match: /RTX 4090/i, peak: { f16: 165.2e12, f32: 82.6e12 } },
];

/** Datasheet FLOP/s peaks for a device name (first PEAK_TABLE match), or null when unknown. */
export function peakFlopsFor(deviceName: string): PeakFlops | null {
  return PEAK_TABLE.find((e) => e.match.test(deviceName))?.peak ?? null;
}

export interface Roofline {
  /** Measured copy bandwidth, bytes/s (read + write). */
  bandwidthBytesPerS: number;
  /** Null when unknown: only the memory roof applies. */
  peak: PeakFlops | null;
}

/** One way of copying `bytes` bytes from src to dst, recorded into a sequence (the caller adds barriers). */
export interface Copier {
  /** What it is, e.g. "vkCmdCopyBuffer" or "copy kernel WG=256,VPT=4". */
  label: string;
  record(seq: Sequence, src: GpuBuffer, dst: GpuBuffer, bytes: number): void;
}

/** vkCmdCopyBuffer (Sequence.copy): the driver's own copy. */
export const cmdCopyBuffer: Copier = { label: 'vkCmdCopyBuffer', record: (seq, src, dst, bytes) => seq.copy(src, dst, bytes) };

/**
 * A variant of the copy kernel family (generator/families/copy.ts) as a Copier, labelled
 * "copy kernel WG=..,VPT=..". `bytes` must be a multiple of 16 (the family's plan throws otherwise).
 */
export function copyKernelCopier(variant: LaunchableVariant<CopyShape>, pipelines: PipelineCache): Copier {
  const params = Object.entries(variant.params).map(([k, v]) => `${k}=${v}`).join(',');
  return {
    label: `copy kernel ${params}`,
    record: (seq, src, dst, bytes) => recordVariant(seq, pipelines, variant, { bytes }, { src, dst }),
  };
}

/**
 * Every variant of the copy family that `limits` accept, on `base`'s family, instance and SPIR-V (one build serves
 * all: the parameters are specialization constants), as Copiers.
 */
export function copyKernelCopiers(base: LaunchableVariant<CopyShape>, limits: DeviceLimits, pipelines: PipelineCache): Copier[] {
  return [...parameterSpace(base.family)]
    .filter((p) => base.family.reject(p, base.instance, limits) === null)
    .map((params) => copyKernelCopier({ ...base, params }, pipelines));
}

/** A measured copy rate. */
export interface CopyRate {
  label: string;
  /** Bytes copied per repetition (each is read once and written once). */
  bytes: number;
  /** Median time of one copy, ns. */
  medianNs: number;
  /** 2 * bytes / median time: bytes read + written per second. */
  bytesPerS: number;
  /** Timed repetitions. */
  reps: number;
}

/** Largest chunk of random host data uploaded to fill a copy source; the rest is GPU copies of it. */
const RANDOM_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Copy size in bytes: `requestedBytes` (default 256 MiB, 64 MiB on CPU devices), at most the device's
 * maxStorageBufferRange and a quarter of its largest device-local heap (source and destination must
 * fit beside whatever else is allocated), rounded down to a multiple of 16 (the copy kernel's element).
 * @throws Error when that leaves less than 1 MiB.
 */
export function copyBytesFor(device: DeviceInfo, requestedBytes?: number): number {
  const heap = Math.max(0, ...device.memoryHeaps.filter((h) => h.deviceLocal).map((h) => h.size));
  const want = requestedBytes ?? (device.deviceType === 'cpu' ? 64 : 256) * 1024 * 1024;
  const bytes = Math.floor(Math.min(want, device.maxStorageBufferRange, heap > 0 ? heap / 4 : want) / 16) * 16;
  if (bytes < 1 << 20) throw new Error(`copy size ${bytes} bytes is below 1 MiB (asked ${want}, maxStorageBufferRange ${device.maxStorageBufferRange}, device-local heap ${heap})`);
  return bytes;
}

/**
 * Time each copier on one pair of `bytes`-byte buffers (default copyBytesFor(device)); the source holds
 * random words (an uploaded chunk repeated by GPU copies). Per copier: one probe copy, untimed copies
 * until `warmupMs` of wall-clock time (default 100 on GPUs, 0 on CPU devices) have passed, so memory and
 * core clocks have ramped up (without it, autotune on an H200 recorded 845 GB/s, where the warmed-up copy kernel moves 3965 GB/s:
 * docs/runs/2026-12-03c/2-dispatch-floor.txt), then `reps`
 * (default 5) copies in one submission,
 * each bracketed by GPU timestamps (a barrier after each), and the median. Devices without timestamps
 * fall back to host wall-clock / reps. Rate = 2 * bytes / median (read + write).
 * @returns one CopyRate per copier, in order.
 * @throws Error from the native layer (allocation, pipeline creation, submission).
 */
export function measureCopyRates(ctx: Context, copiers: Copier[], opts: { bytes?: number; reps?: number; warmupMs?: number } = {}): CopyRate[] {
  const bytes = opts.bytes ?? copyBytesFor(ctx.device);
  const reps = Math.max(1, opts.reps ?? 5);
  const gpu = ctx.device.timestamps;
  const src = ctx.createBuffer(bytes);
  const dst = ctx.createBuffer(bytes);
  const seq = ctx.createSequence();
  try {
    const chunk = Math.min(bytes, RANDOM_CHUNK_BYTES);
    const words = new Uint32Array(chunk / 4);
    for (let i = 0; i < words.length; i++) words[i] = (Math.random() * 2 ** 32) >>> 0;
    ctx.upload(src, words);
    for (let off = chunk; off < bytes; off += chunk) seq.copy(src, src, Math.min(chunk, bytes - off), 0, off);
    seq.barrier();
    seq.submit();
    const run = (copier: Copier, count: number, timed: boolean): number[] => {
      seq.reset();
      for (let i = 0; i < count; i++) {
        if (timed && gpu) seq.timestamp();
        copier.record(seq, src, dst, bytes);
        seq.barrier();
      }
      if (timed && gpu) seq.timestamp();
      const t0 = performance.now();
      seq.submit();
      const hostNs = (performance.now() - t0) * 1e6;
      if (!timed || !gpu) return new Array(count).fill(hostNs / count);
      const ts = seq.timestamps();
      return Array.from({ length: count }, (_, i) => ts[i + 1] - ts[i]);
    };
    return copiers.map((copier) => {
      run(copier, 1, true);
      const warmupMs = opts.warmupMs ?? (ctx.device.deviceType === 'cpu' ? 0 : 100);
      for (const t0 = performance.now(); performance.now() - t0 < warmupMs; ) run(copier, 4, false);
      const medianNs = summarize(run(copier, reps, true)).medianNs;
      return { label: copier.label, bytes, medianNs, bytesPerS: (2 * bytes) / (medianNs * 1e-9), reps };
    });
  } finally {
    seq.destroy();
    src.destroy();
    dst.destroy();
  }
}

/**
 * Roofline of this run: bandwidth = the fastest of vkCmdCopyBuffer and `copiers` (e.g. copy-kernel variants:
 * on the H100 vkCmdCopyBuffer alone read ~850 GB/s, so the tuner's table put GEMVs at 164-273% of their
 * "roofline"; 2026-12-08 call 1), measured now with measureCopyRates' defaults; peak from `peakOverride`,
 * else the table, else null.
 */
export function measureRoofline(ctx: Context, peakOverride?: PeakFlops | null, copiers: Copier[] = []): Roofline {
  const rates = measureCopyRates(ctx, [cmdCopyBuffer, ...copiers]);
  return { bandwidthBytesPerS: Math.max(...rates.map((r) => r.bytesPerS)), peak: peakOverride ?? peakFlopsFor(ctx.device.name) };
}

/** Lower bound of a workload's time (ns) and which roof binds. f16 instances use the f16 peak. */
export function rooflineNs(roof: Roofline, w: Workload): { ns: number; bound: 'compute' | 'memory' } {
  const memNs = (w.minBytes / roof.bandwidthBytesPerS) * 1e9;
  if (!roof.peak) return { ns: memNs, bound: 'memory' };
  const peak = w.instanceKey === 'f16' ? roof.peak.f16 : roof.peak.f32;
  const flopNs = (w.flops / peak) * 1e9;
  return flopNs > memNs ? { ns: flopNs, bound: 'compute' } : { ns: memNs, bound: 'memory' };
}

/** Percent of the roofline a measured time reaches (100 = at the roof). */
export function rooflinePct(roof: Roofline, w: Workload, ns: number): number {
  return (100 * rooflineNs(roof, w).ns) / ns;
}
