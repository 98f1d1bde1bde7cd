// Clock ramp: how a kernel's GPU time moves from an idle GPU to a busy one, and what tuner/timing.ts
// (timeVariant) reports after the same idle gap without and with a heat-up (heatUp) first.
// Kernel: attention.vec, f16 K/V, the 1B model's decode at depth 4096 (D 64, heads 32/8), two variants.
// Per variant: sleep IDLE_MS, then back-to-back timed submissions of ~5 ms of GPU work for 1.5 s, printing
// the median per-repetition time at elapsed ~0, 5, 10, 20, ... ms; then, each after IDLE_MS of sleep,
// timeVariant alone (its 30 ms warm-up) and heatUp (defaults) followed by timeVariant.
// Usage (repository root): [IDLE_MS=1000] node docs/runs/clock-ramp.js
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { allocBenchBuffers } = d('tuner/bench-inputs');
const { heatUp, timeVariant } = d('tuner/timing');
const { summarize } = d('tuner/stats');
const { mulberry32 } = d('tuner/search');

const idleMs = Number(process.env.IDLE_MS ?? 1000);
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById('attention.vec');
const inst = fam.instances.find((i) => i.key === 'f16');
const kvLength = 4097;
const s = { D: 64, heads: 32, kvHeads: 8, queries: 1, kvLength, kvStride: Math.ceil(kvLength / 256) * 256, queryPos0: kvLength - 1, causal: true, scale: 1 / 8 };
const variants = {
  'KVU 1 (call-2 pack)': { ...fam.defaults, D: 64, WG: 256, TPR: 4, ROWS: 1, KV_CHUNK: 1024, GQA_PACK: 0, SG_REDUCE: 1, KVU: 1 },
  'KVU 4 (call-1 sweep best)': { ...fam.defaults, D: 64, WG: 256, TPR: 8, ROWS: 1, KV_CHUNK: 1024, GQA_PACK: 1, SG_REDUCE: 1, KVU: 4 },
};
const kvElems = s.kvHeads * s.kvStride * s.D;
const scratchBytes = Math.max(16, ...Object.values(variants).map((p) => fam.plan(s, p, inst).scratchBytes));
const bufs = allocBenchBuffers(ctx, [{ name: 'Q', dtype: 'f32', elems: s.heads * s.D }, { name: 'K', dtype: 'f16', elems: kvElems }, { name: 'V', dtype: 'f16', elems: kvElems }], { O: 4 * s.heads * s.D }, { rng: mulberry32(1), scratchBytes });
console.log(`clock ramp on ${ctx.device.name}: attention.vec f16 D=64 heads 32/8 kv=${kvLength}, idle ${idleMs} ms before each run`);
const seq = ctx.createSequence();
for (const [name, params] of Object.entries(variants)) {
  const v = { family: fam, instance: inst, spirv: src.spirvFor(fam.id, 'f16').spirv, params };
  const plan = fam.plan(s, params, inst);
  let k = 0;
  const batch = (reps) => {
    seq.reset();
    for (let i = 0; i < reps; i++) {
      seq.timestamp();
      recordVariant(seq, cache, v, s, bufs.sets[k++ % bufs.sets.length], plan);
    }
    seq.timestamp();
    seq.submit();
    const ts = seq.timestamps();
    return Array.from({ length: reps }, (_, i) => ts[i + 1] - ts[i]);
  };
  batch(2);
  sleep(idleMs);
  const t0 = performance.now();
  let per = batch(1)[0];
  const marks = [0, 5, 10, 20, 40, 80, 160, 320, 640, 1280];
  const out = [];
  for (let next = 0; performance.now() - t0 < 1500; ) {
    const el = performance.now() - t0;
    const m = summarize(batch(Math.max(1, Math.min(500, Math.round(5e6 / per))))).medianNs;
    per = m;
    if (next < marks.length && el >= marks[next]) {
      out.push(`${el.toFixed(0)}ms:${(m / 1e3).toFixed(1)}`);
      while (next < marks.length && el >= marks[next]) next++;
    }
  }
  console.log(`${name.padEnd(28)} ramp (elapsed: median us) ${out.join(' ')}`);
  for (const heat of [false, true]) {
    sleep(idleMs);
    const h = heat ? heatUp(ctx, cache, v, s, bufs.sets) : null;
    const r = timeVariant(ctx, cache, v, s, bufs.sets, { maxTimeMs: 200 });
    const hs = h ? `after heatUp ${h.ms.toFixed(0)} ms${h.stable ? '' : ' (not stable)'}, windows ${h.windowMediansNs.map((n) => (n / 1e3).toFixed(1)).join(' ')}` : 'alone (30 ms warm-up)';
    console.log(`${''.padEnd(28)} timeVariant ${(r.medianNs / 1e3).toFixed(2)} us (n ${r.n}) ${hs}`);
  }
}
seq.destroy();
bufs.destroy();
cache.destroy();
ctx.destroy();
