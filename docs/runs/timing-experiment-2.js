// Does the GEMV's speed depend on the weights' values? Same kernel, same shape, different data.
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m)); // run from the repository root: node docs/runs/<this file>
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { f32ToF16Bits } = d('runtime/gguf');
const ctx = vulkan.createContext(0);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById('matmul.vec');
const v = { family: fam, instance: fam.instances.find((i) => i.key === 'f16'), spirv: src.spirvFor('matmul.vec', 'f16').spirv, params: { ...fam.defaults } };
const cache = new PipelineCache(ctx);
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const gauss = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
const lut = new Uint16Array(65536);
const gens = {
  'uniform[-1,1]': () => f32ToF16Bits(Math.random() * 2 - 1),
  'N(0,0.02)': () => f32ToF16Bits(0.02 * gauss()),
  'N(0,1)': () => f32ToF16Bits(gauss()),
  'random bits (no NaN)': () => { const h = (Math.random() * 65536) | 0; return (h & 0x7c00) === 0x7c00 ? h & 0x83ff : h; },
  zeros: () => 0,
};
for (const [M, K] of [[8192, 2048], [2048, 8192]]) {
  const shape = { M, N: 1, K };
  const B = ctx.createBuffer(K * 4);
  ctx.upload(B, Float32Array.from({ length: K }, () => Math.random() * 2 - 1));
  const D = ctx.createBuffer(M * 4);
  const line = [`M=${M} K=${K}`];
  for (const [name, gen] of Object.entries(gens)) {
    for (let i = 0; i < lut.length; i++) lut[i] = gen();
    const host = new Uint16Array(M * K);
    for (let i = 0; i < host.length; i++) host[i] = lut[(Math.random() * 65536) | 0];
    const As = [];
    for (let i = 0; i < 16; i++) { const b = ctx.createBuffer(M * K * 2); ctx.upload(b, host); As.push(b); }
    const seq = ctx.createSequence();
    const all = [];
    for (let rep = 0; rep < 30; rep++) {
      seq.reset();
      for (let i = 0; i < 16; i++) { seq.timestamp(); recordVariant(seq, cache, v, shape, { A: As[i], B, D }); }
      seq.timestamp();
      seq.submit();
      const ts = seq.timestamps();
      if (rep >= 10) for (let i = 0; i < 16; i++) all.push(ts[i + 1] - ts[i]);
    }
    seq.destroy();
    for (const b of As) b.destroy();
    line.push(`${name}: ${(med(all) / 1e3).toFixed(1)} us`);
  }
  B.destroy();
  D.destroy();
  console.log(line.join(' | '));
}
ctx.destroy();
