// argmax over a Llama 3 vocabulary (n = 128256 f32 logits): every WG x ITEMS x MERGE point, tuner protocol
// (tuner/timing timeVariant, 16 logits buffers rotated), each point's result checked against the host's argmax.
// Usage (repository root): node docs/runs/2026-12-07d/argmax-sweep.js [ms per point = 30]
const path = require('path');
const root = path.join(__dirname, '..', '..', '..');
const d = (m) => require(path.join(root, 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { heatUp, timeVariant } = d('tuner/timing');
const ms = Number(process.argv[2] ?? 30);
const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const fam = familyById('argmax');
const instance = fam.instances[0];
const spirv = kernelSourceFromDir(path.join(root, 'dist', 'kernels')).spirvFor('argmax', 'f32').spirv;
const n = 128256, shape = { n };
const logits = Float32Array.from({ length: n }, () => Math.random() * 20 - 10);
let best = 0;
for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
const scratch = ctx.createBuffer(8 * 1024), counters = ctx.createBuffer(256), out = ctx.createBuffer(16);
const seqZ = ctx.createSequence(); seqZ.fill(counters, 0); seqZ.submit(); seqZ.destroy();
const sets = Array.from({ length: 16 }, () => { const X = ctx.createBuffer(4 * n); ctx.upload(X, logits); return { X, out, scratch, counters }; });
console.log(`argmax n=${n} on ${ctx.device.name}, us (tuner protocol); host argmax ${best}`);
const rows = [];
for (const WG of [64, 128, 256, 512, 1024]) for (const ITEMS of fam.params.find((p) => p.name === "ITEMS").values) for (const MERGE of [0, 1]) {
  const params = { ...fam.defaults, WG, ITEMS, MERGE };
  const v = { family: fam, instance, spirv, params };
  const plan = fam.plan(shape, params, instance);
  heatUp(ctx, cache, v, shape, sets);
  const us = timeVariant(ctx, cache, v, shape, sets, { maxTimeMs: ms, warmupMs: 5 }).medianNs / 1e3;
  const seq = ctx.createSequence();
  recordVariant(seq, cache, v, shape, sets[3]);
  seq.submit(); seq.destroy();
  const got = new Uint32Array(ctx.download(out, 0, 4))[0];
  const zero = new Uint32Array(ctx.download(counters, 0, 4))[0] === 0;
  rows.push({ WG, ITEMS, MERGE, groups: plan.steps[0].groups[0], dispatches: plan.steps.length, us, ok: got === best && zero });
}
rows.sort((a, b) => a.us - b.us);
for (const r of rows) console.log(`WG ${String(r.WG).padStart(4)} ITEMS ${String(r.ITEMS).padStart(2)} MERGE ${r.MERGE}  groups ${String(r.groups).padStart(4)} dispatches ${r.dispatches}  ${r.us.toFixed(2).padStart(7)} us  ${r.ok ? 'ok' : 'WRONG'}`);
console.log(`default ${JSON.stringify(fam.defaults)}: ${rows.find((r) => r.WG === fam.defaults.WG && r.ITEMS === fam.defaults.ITEMS && r.MERGE === fam.defaults.MERGE).us.toFixed(2)} us`);
