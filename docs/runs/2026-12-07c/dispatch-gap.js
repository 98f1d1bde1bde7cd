// Dispatch gap: is a decode step's per-dispatch cost the barrier or the dispatch itself?
// R copy dispatches of 4 KiB each (generator/families/copy.ts defaults), one timestamp pair around all R, three ways:
//   barrier:    each dispatch followed by the barrier the graph records (recordVariant), ping-pong a <-> b;
//   none:       no barrier between them, each dispatch on its own buffer pair (independent work);
//   every 4th:  a barrier after every 4th dispatch (what batching independent dispatches would give).
// Usage (repository root): node docs/runs/2026-12-07c/dispatch-gap.js [R = 256]
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { heatUp } = d('tuner/timing');
const { summarize } = d('tuner/stats');

const R = Number(process.argv[2] ?? 256);
const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', '..', 'dist', 'kernels'));
const fam = familyById('copy');
const variant = { family: fam, instance: fam.instances[0], spirv: src.spirvFor('copy', 'u32').spirv, params: fam.defaults };
const bytes = 4096;
const shape = { bytes };
const bufs = Array.from({ length: 2 * R }, () => ctx.createBuffer(bytes));
const h = heatUp(ctx, cache, variant, shape, [{ src: bufs[0], dst: bufs[1] }]);
const plan = fam.plan(shape, fam.defaults, fam.instances[0]);
const step = plan.steps[0];
const pipe = cache.get(variant, step.specOverrides);
console.log(`dispatch gap on ${ctx.device.name}: ${R} copies of ${bytes} B, heat-up ${h.ms.toFixed(0)} ms; us per dispatch, median of 9`);
for (const [name, every, own] of [['barrier', 1, false], ['none', 0, true], ['every 4th', 4, true], ['barrier', 1, false]]) {
  const seq = ctx.createSequence();
  const us = [];
  for (let rep = 0; rep < 10; rep++) {
    seq.reset();
    seq.timestamp();
    for (let i = 0; i < R; i++) {
      const a = own ? bufs[2 * i] : bufs[i % 2], b = own ? bufs[2 * i + 1] : bufs[(i + 1) % 2];
      seq.dispatch(pipe, [{ buffer: a }, { buffer: b }], step.push, step.groups);
      if (every && (i + 1) % every === 0) seq.barrier();
    }
    seq.timestamp();
    seq.submit();
    const ts = seq.timestamps();
    if (rep > 0) us.push((ts[1] - ts[0]) / 1e3 / R);
  }
  console.log(`${name.padEnd(10)} ${summarize(us).medianNs.toFixed(2).padStart(8)}`);
  seq.destroy();
}
for (const b of bufs) b.destroy();
cache.destroy();
ctx.destroy();
