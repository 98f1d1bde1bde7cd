// Dispatch floor: what one dependent dispatch costs on this Vulkan device, apart from its work.
// The copy kernel (generator/families/copy.ts, defaults) on sizes from 4 KiB to 256 MiB, two ways:
//   timed:   a timestamp before and after each dispatch (the tuner's protocol, tuner/timing.ts), median;
//   chained: R dispatches back to back, each followed by the barrier the graph records (generator/launch.ts),
//            one timestamp pair around all R: per-dispatch cost as a decode step replays it.
// Each size starts with a heat-up (tuner/timing.ts heatUp), so the SM clock is up as in a running model.
// Usage (repository root): node docs/runs/dispatch-floor.js [R = 200]
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { heatUp, timeVariant } = d('tuner/timing');
const { summarize } = d('tuner/stats');

const R = Number(process.argv[2] ?? 200);
const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById('copy');
const variant = { family: fam, instance: fam.instances[0], spirv: src.spirvFor('copy', 'u32').spirv, params: fam.defaults };
console.log(`dispatch floor on ${ctx.device.name}: copy kernel ${JSON.stringify(fam.defaults)}, chained runs of ${R}`);
console.log('bytes          timed us   chained us/dispatch   chained GB/s (read + write)   heat-up');
for (const bytes of [4096, 65536, 1 << 20, 16 << 20, 256 << 20]) {
  const a = ctx.createBuffer(bytes);
  const b = ctx.createBuffer(bytes);
  const shape = { bytes };
  const h = heatUp(ctx, cache, variant, shape, [{ src: a, dst: b }]);
  const timed = timeVariant(ctx, cache, variant, shape, [{ src: a, dst: b }], { maxTimeMs: 300, warmupMs: 20 }).medianNs / 1e3;
  const seq = ctx.createSequence();
  const chainedUs = [];
  for (let rep = 0; rep < 7; rep++) {
    seq.reset();
    seq.timestamp();
    for (let i = 0; i < R; i++) recordVariant(seq, cache, variant, shape, i % 2 ? { src: b, dst: a } : { src: a, dst: b });
    seq.timestamp();
    seq.submit();
    const ts = seq.timestamps();
    if (rep > 0) chainedUs.push((ts[1] - ts[0]) / 1e3 / R);
  }
  const c = summarize(chainedUs).medianNs;
  console.log(`${String(bytes).padEnd(12)} ${timed.toFixed(2).padStart(9)} ${c.toFixed(2).padStart(14)} ${((2 * bytes) / c / 1e3).toFixed(0).padStart(18)}            ${h.ms.toFixed(0)} ms${h.stable ? '' : ' (not stable)'}`);
  seq.destroy();
  a.destroy();
  b.destroy();
}
cache.destroy();
ctx.destroy();
