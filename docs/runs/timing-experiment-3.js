// Is the slowdown tied to allocation history (new buffers after many alloc/free cycles) or to time under load?
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m)); // run from the repository root: node docs/runs/<this file>
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const ctx = vulkan.createContext(0);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById('matmul.vec');
const v = { family: fam, instance: fam.instances.find((i) => i.key === 'f16'), spirv: src.spirvFor('matmul.vec', 'f16').spirv, params: { ...fam.defaults } };
const cache = new PipelineCache(ctx);
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const M = 2048, K = 8192, shape = { M, N: 1, K };
const host = Uint16Array.from({ length: M * K }, () => 0x2000 + ((Math.random() * 0x1000) | 0));
const B = ctx.createBuffer(K * 4); ctx.upload(B, Float32Array.from({ length: K }, () => Math.random()));
const D = ctx.createBuffer(M * 4);
const alloc16 = () => Array.from({ length: 16 }, () => { const b = ctx.createBuffer(M * K * 2); ctx.upload(b, host); return b; });
const seq = ctx.createSequence();
const time = (As, label) => {
  const all = [];
  for (let rep = 0; rep < 20; rep++) {
    seq.reset();
    for (let i = 0; i < 16; i++) { seq.timestamp(); recordVariant(seq, cache, v, shape, { A: As[i], B, D }); }
    seq.timestamp();
    seq.submit();
    const ts = seq.timestamps();
    if (rep >= 5) for (let i = 0; i < 16; i++) all.push(ts[i + 1] - ts[i]);
  }
  console.log(`${label}: ${(med(all) / 1e3).toFixed(1)} us`);
};
const first = alloc16();
time(first, 't0 first buffers, fresh process');
for (let c = 0; c < 300; c++) { const b = ctx.createBuffer(M * K * 2 + (c % 7) * 4096); b.destroy(); }
time(first, 't1 first buffers after 300 alloc/free cycles');
const fresh = alloc16();
time(fresh, 't2 new buffers after the cycles');
for (const b of fresh) b.destroy();
const churn = [];
for (let c = 0; c < 60; c++) { churn.push(ctx.createBuffer(M * K * 2 + c * 4096)); if (c % 3 === 2) churn.splice(c % churn.length, 1)[0].destroy(); }
const fresh2 = alloc16();
time(fresh2, 't3 new buffers after interleaved alloc/free churn');
const t0 = performance.now();
while (performance.now() - t0 < 4000) { seq.reset(); for (let i = 0; i < 200; i++) recordVariant(seq, cache, v, shape, { A: first[i % 16], B, D }); seq.submit(); }
time(first, 't4 first buffers after 4 s of continuous load');
time(fresh2, 't5 churned buffers after the load');
ctx.destroy();
