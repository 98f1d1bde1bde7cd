/**
 * Per-op GPU time of one recorded forward pass: a timestamp before every op call and one at the
 * end, so op i's time is t[i+1] - t[i] (its dispatches, barriers and any gap before the next op).
 * The device's timestamp period is applied by the native layer (values in ns).
 */
import type { Sequence } from '../native/vulkan/api';

export interface OpTime {
  /** "op family" plus the shape for matmul, e.g. "matmul matmul.vec M=2048 K=2048 N=1". */
  label: string;
  op: string;
  ns: number;
}

/** Collects one timestamp per op call of a recording (set as KernelSet.profiler), then the op times. */
export class OpProfiler {
  private labels: Array<{ label: string; op: string }> = [];

  /** Mark the start of an op call in `seq`. */
  begin(seq: Sequence, op: string, label: string): void {
    seq.timestamp();
    this.labels.push({ label, op });
  }

  /** Mark the end of the last op (call once after recording, before submit). */
  end(seq: Sequence): void {
    seq.timestamp();
  }

  /**
   * Op times of the last submission of `seq`, then forget the labels for the next recording.
   * @throws Error when the sequence recorded a different number of timestamps.
   */
  collect(seq: Sequence): OpTime[] {
    const ts = seq.timestamps();
    if (ts.length !== this.labels.length + 1) throw new Error(`profile: ${ts.length} timestamps for ${this.labels.length} ops`);
    const out = this.labels.map((l, i) => ({ ...l, ns: ts[i + 1] - ts[i] }));
    this.labels = [];
    return out;
  }
}

/** Sum op times by label, sorted by total time (descending). */
export function summarizeProfile(times: OpTime[]): Array<{ label: string; op: string; calls: number; ns: number }> {
  const by = new Map<string, { label: string; op: string; calls: number; ns: number }>();
  for (const t of times) {
    const e = by.get(t.label) ?? { label: t.label, op: t.op, calls: 0, ns: 0 };
    e.calls++;
    e.ns += t.ns;
    by.set(t.label, e);
  }
  return [...by.values()].sort((a, b) => b.ns - a.ns);
}
