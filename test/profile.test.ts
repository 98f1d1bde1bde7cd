/** runtime/profile.ts: per-op times from a recording's timestamps, dispatch counts, and the step's split. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequence } from '../native/vulkan/api';
import { OpProfiler, splitProfile, summarizeProfile } from '../runtime/profile';

/** A Sequence that only counts timestamps and returns the given ones (ns) as its last submission's. */
function fakeSequence(times: number[]): { seq: Sequence; written: () => number } {
  let n = 0;
  const seq = { timestamp: () => n++, timestamps: () => Float64Array.from(times) } as unknown as Sequence;
  return { seq, written: () => n };
}

test('OpProfiler: op i spans timestamps i..i+1, with the dispatches its call recorded', () => {
  const { seq, written } = fakeSequence([0, 1000, 4000, 4500, 9000]);
  const p = new OpProfiler();
  assert.throws(() => p.dispatched(1), /before begin/);
  p.begin(seq, 'matmul', 'matmul matmul.vecq M=8 K=8 N=1');
  p.dispatched(1);
  p.begin(seq, 'attention', 'attention attention.vec');
  p.dispatched(2);
  p.begin(seq, 'argmax', 'argmax argmax');
  p.dispatched(1);
  p.begin(seq, 'matmul', 'matmul matmul.vecq M=8 K=8 N=1');
  p.dispatched(1);
  p.end(seq);
  assert.equal(written(), 5);
  const ops = p.collect(seq);
  assert.deepEqual(ops.map((o) => [o.op, o.ns, o.dispatches]), [['matmul', 1000, 1], ['attention', 3000, 2], ['argmax', 500, 1], ['matmul', 4500, 1]]);
  const sum = summarizeProfile(ops);
  assert.deepEqual(sum[0], { label: 'matmul matmul.vecq M=8 K=8 N=1', op: 'matmul', calls: 2, ns: 5500, dispatches: 2 });
  // labels are forgotten after collect: a second recording with a different op count must not reuse them
  assert.throws(() => p.collect(seq), /timestamps for 0 ops/);
});

test('splitProfile: GEMV/GEMM (matmul, ffn), attention (attention, attention_o), the rest; the dispatch floor', () => {
  const ops = [
    { label: 'a', op: 'matmul', ns: 100, dispatches: 1 },
    { label: 'b', op: 'ffn', ns: 200, dispatches: 1 },
    { label: 'c', op: 'attention', ns: 50, dispatches: 2 },
    { label: 'd', op: 'attention_o', ns: 30, dispatches: 1 },
    { label: 'e', op: 'argmax', ns: 7, dispatches: 1 },
    { label: 'f', op: 'embed', ns: 3, dispatches: 1 },
  ];
  assert.deepEqual(splitProfile(ops, 2.5), { matmulNs: 300, attentionNs: 80, otherNs: 10, dispatches: 7, floorNs: 17.5 });
  assert.equal(splitProfile(ops, null).floorNs, null);
});
