/**
 * Roofline of the device under tuning: memory bandwidth measured in the same run (vkCmdCopyBuffer of
 * a large buffer, (bytes read + bytes written) / time), FLOP peak from an option or a small table of
 * vendor datasheet numbers (dense, no sparsity), else unknown (memory roofline only).
 * Roofline time of a workload = max(flops / peak, minBytes / bandwidth) (Williams, Waterman &
 * Patterson, "Roofline", CACM 2009); percent of roofline = 100 * roofline time / measured time.
 */
import type { Context } from '../native/vulkan/api';
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

/**
 * Copy bandwidth: `reps` timed vkCmdCopyBuffer of `bytes` (default 256 MiB, 64 MiB on CPU devices)
 * after one warm-up, median time; returns 2 * bytes / median (bytes/s). Host wall-clock if the
 * device has no timestamps.
 */
export function measureCopyBandwidth(ctx: Context, opts: { bytes?: number; reps?: number } = {}): number {
  const bytes = opts.bytes ?? (ctx.device.deviceType === 'cpu' ? 64 : 256) * 1024 * 1024;
  const reps = opts.reps ?? 5;
  const src = ctx.createBuffer(bytes);
  const dst = ctx.createBuffer(bytes);
  const seq = ctx.createSequence();
  try {
    seq.fill(src, 0x3f8ccccd);
    seq.copy(src, dst, bytes);
    seq.submit();
    seq.reset();
    const gpu = ctx.device.timestamps;
    for (let i = 0; i < reps; i++) {
      if (gpu) seq.timestamp();
      seq.copy(src, dst, bytes);
      seq.barrier();
    }
    if (gpu) seq.timestamp();
    const t0 = performance.now();
    seq.submit();
    const hostNs = (performance.now() - t0) * 1e6;
    const ts = seq.timestamps();
    const samples = gpu ? Array.from({ length: reps }, (_, i) => ts[i + 1] - ts[i]) : [hostNs / reps];
    return (2 * bytes) / (summarize(samples).medianNs * 1e-9);
  } finally {
    seq.destroy();
    src.destroy();
    dst.destroy();
  }
}

/** Roofline of this run: bandwidth measured now, peak from `peakOverride`, else the table, else null. */
export function measureRoofline(ctx: Context, peakOverride?: PeakFlops | null): Roofline {
  return { bandwidthBytesPerS: measureCopyBandwidth(ctx), peak: peakOverride ?? peakFlopsFor(ctx.device.name) };
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
