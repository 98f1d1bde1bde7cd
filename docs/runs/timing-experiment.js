// Why does the tuner time GEMVs 2-5x slower than the decode graph does? Same kernel, several ways.
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m)); // run from the repository root: node docs/runs/<this file>
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { makeProblem } = d('tuner/problems');
const { timeVariant } = d('tuner/timing');
const ctx = vulkan.createContext(0);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById('matmul.vec');
const inst = fam.instances.find((i) => i.key === 'f16');
const v = { family: fam, instance: inst, spirv: src.spirvFor('matmul.vec', 'f16').spirv, params: { ...fam.defaults } };
const cache = new PipelineCache(ctx);
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
for (const [M, K] of [[2048, 2048], [8192, 2048], [512, 2048], [2048, 8192]]) {
  const shape = { M, N: 1, K };
  const p = makeProblem(ctx, 'matmul', shape, 'f16', Math.random, { cpuMaxFlops: 0, gpuReference: { variant: v, cache } });
  const line = [`M=${M} K=${K}`];
  for (const sets of [1, 4, 8]) {
    const r = timeVariant(ctx, cache, v, shape, p.bufferSets(sets, 16));
    line.push(`timeVariant sets=${sets}: ${(r.medianNs / 1e3).toFixed(1)} us (n=${r.n})`);
  }
  // graph-like: 16 distinct weight buffers, back to back, timestamps between
  const As = [];
  const bytes = M * K * 2;
  const host = new Uint16Array(M * K);
  for (let i = 0; i < host.length; i++) host[i] = 0x2000 + ((Math.random() * 0x1000) | 0);
  for (let i = 0; i < 16; i++) { const b = ctx.createBuffer(bytes); ctx.upload(b, host); As.push(b); }
  const set0 = p.bufferSets(1, 16)[0];
  const seq = ctx.createSequence();
  for (const mode of ['distinct', 'same']) {
    const all = [];
    for (let rep = 0; rep < 20; rep++) {
      seq.reset();
      for (let i = 0; i < 16; i++) { seq.timestamp(); recordVariant(seq, cache, v, shape, { ...set0, A: mode === 'distinct' ? As[i] : As[0] }); }
      seq.timestamp();
      seq.submit();
      const ts = seq.timestamps();
      if (rep >= 5) for (let i = 0; i < 16; i++) all.push(ts[i + 1] - ts[i]);
    }
    line.push(`graph-like ${mode}: ${(med(all) / 1e3).toFixed(1)} us`);
  }
  // the problem's own A (random uniform f16 in [-1,1]) in the graph-like loop
  {
    const all = [];
    for (let rep = 0; rep < 20; rep++) {
      seq.reset();
      for (let i = 0; i < 16; i++) { seq.timestamp(); recordVariant(seq, cache, v, shape, set0); }
      seq.timestamp();
      seq.submit();
      const ts = seq.timestamps();
      if (rep >= 5) for (let i = 0; i < 16; i++) all.push(ts[i + 1] - ts[i]);
    }
    line.push(`graph-like problem's A: ${(med(all) / 1e3).toFixed(1)} us`);
  }
  seq.destroy();
  for (const b of As) b.destroy();
  p.destroy();
  console.log(line.join(' | '));
}
ctx.destroy();
