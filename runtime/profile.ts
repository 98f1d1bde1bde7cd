/**
 * Per-op GPU time of one recorded forward pass: a timestamp before every op call and one at the
 * end, so op i's time is t[i+1] - t[i] (its dispatches, barriers and any gap before the next op),
 * with the number of dispatches each call recorded (every one followed by a barrier: generator/launch.ts
 * recordVariant). The device's timestamp period is applied by the native layer (values in ns).
 */
import type { Sequence } from '../native/vulkan/api';

export interface OpTime {
  /** "op family" plus the shape for matmul, e.g. "matmul matmul.vec M=2048 K=2048 N=1". */
  label: string;
  op: string;
  ns: number;
  /** Dispatches the call recorded (its plan's steps), each followed by a barrier. */
  dispatches: number;
}

/** Collects one timestamp per op call of a recording (set as KernelSet.profiler), then the op times. */
export class OpProfiler {
  private labels: Array<{ label: string; op: string; dispatches: number }> = [];

  /** Mark the start of an op call in `seq`. */
  begin(seq: Sequence, op: string, label: string): void {
    seq.timestamp();
    this.labels.push({ label, op, dispatches: 0 });
  }

  /** Count `n` dispatches recorded by the op call begun last. @throws Error before any begin(). */
  dispatched(n: number): void {
    const last = this.labels[this.labels.length - 1];
    if (!last) throw new Error('profile: dispatched() before begin()');
    last.dispatches += n;
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
export function summarizeProfile(times: OpTime[]): Array<{ label: string; op: string; calls: number; ns: number; dispatches: number }> {
  const by = new Map<string, { label: string; op: string; calls: number; ns: number; dispatches: number }>();
  for (const t of times) {
    const e = by.get(t.label) ?? { label: t.label, op: t.op, calls: 0, ns: 0, dispatches: 0 };
    e.calls++;
    e.ns += t.ns;
    e.dispatches += t.dispatches;
    by.set(t.label, e);
  }
  return [...by.values()].sort((a, b) => b.ns - a.ns);
}

/** Where a step's GPU time goes: weight products (GEMV / GEMM, the fused feed-forward), attention, the rest. */
export interface ProfileSplit {
  /** ns in matmul and ffn calls. */
  matmulNs: number;
  /** ns in attention and attention_o calls. */
  attentionNs: number;
  /** ns in every other op (norms, rope, embed, argmax, ...). */
  otherNs: number;
  /** Dispatches recorded, each followed by a barrier. */
  dispatches: number;
  /** dispatches * the measured cost of one dependent dispatch (ns), when given: the step's dispatch floor. */
  floorNs: number | null;
}

/**
 * Split op times into weight products, attention and the rest, with the step's dispatch floor.
 * @param dependentDispatchNs GPU time of one dispatch of a tiny kernel followed by a barrier, measured on the same
 *   device (tuner/timing.ts dependentDispatchNs), or null.
 */
export function splitProfile(times: OpTime[], dependentDispatchNs: number | null): ProfileSplit {
  const out: ProfileSplit = { matmulNs: 0, attentionNs: 0, otherNs: 0, dispatches: 0, floorNs: null };
  for (const t of times) {
    if (t.op === 'matmul' || t.op === 'ffn') out.matmulNs += t.ns;
    else if (t.op === 'attention' || t.op === 'attention_o') out.attentionNs += t.ns;
    else out.otherNs += t.ns;
    out.dispatches += t.dispatches;
  }
  if (dependentDispatchNs !== null) out.floorNs = out.dispatches * dependentDispatchNs;
  return out;
}
