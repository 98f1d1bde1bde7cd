// ffn.vecq phase costs: the same parameter points timed with the real kernel (dist/kernels) and three
// experiment builds of the template (docs/runs/2026-12-07b/kx-*, not for use: wrong results by design):
//   B: the float atomicAdd into Y replaced by a plain store; C: the down phase skipped (return after h is
//   quantized); D: the gate|up phase skipped (h = a slice of x).  llama-3.2-1b shape, Q4_0, N = 1, tuner protocol.
// Usage (repository root): node docs/runs/2026-12-07b/ffn-phases.js [ms per variant = 40]
const path = require('path');
const root = path.join(__dirname, '..', '..', '..');
const d = (m) => require(path.join(root, 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache } = d('generator/launch');
const { kernelSourceFromDir } = d('tuner/autotune');
const { heatUp, timeVariant } = d('tuner/timing');
const { randomTensorBytes } = d('tuner/bench-inputs');
const { mulberry32 } = d('tuner/search');
const ms = Number(process.argv[2] ?? 40);
const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const fam = familyById('ffn.vecq');
const instance = fam.instances.find((i) => i.key === 'q4_0');
const dim = 2048, hidden = 8192, N = 1, L = 16;
const shape = { N, dim, hidden, eps: 1e-5 };
const upload = (data) => { const b = ctx.createBuffer(Math.ceil(data.byteLength / 4) * 4); ctx.upload(b, data); return b; };
const rand = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const wgu = randomTensorBytes('q4_0', 2 * hidden * dim, mulberry32(1)), wd = randomTensorBytes('q4_0', dim * hidden, mulberry32(2));
const X = upload(rand(dim)), G = upload(rand(dim)), Y = ctx.createBuffer(4 * dim), Z = ctx.createBuffer(4 * dim);
const sets = [];
for (let l = 0; l < L; l++) sets.push({ Wgu: upload(wgu), X, Y, G, Wd: upload(wd), Z });
const points = [
  fam.defaults,
  { ...fam.defaults, RPT: 2, KSPLIT: 32, UNROLL: 2, HB: 1, DU: 1 },
  { ...fam.defaults, RPT: 4, KSPLIT: 32, UNROLL: 1, HB: 1, DU: 4, PREFETCH: 1 },
  { ...fam.defaults, WG: 512, RPT: 1, KSPLIT: 8, UNROLL: 2, HB: 1, DU: 2, PREFETCH: 1 },
  { ...fam.defaults, WG: 128, RPT: 2, KSPLIT: 8, UNROLL: 1, HB: 1, DU: 4 },
];
const dirs = { real: path.join(root, 'dist', 'kernels'), 'B no-atomics': path.join(__dirname, 'kx-B'), 'C no-down': path.join(__dirname, 'kx-C'), 'D no-gate-up': path.join(__dirname, 'kx-D') };
console.log(`ffn.vecq phases on ${ctx.device.name}: weights ${((wgu.length + wd.length) / 1e6).toFixed(1)} MB (gate|up ${(wgu.length / 1e6).toFixed(1)}, down ${(wd.length / 1e6).toFixed(1)})`);
for (let round = 0; round < 2; round++) {
  for (const [name, dir] of Object.entries(dirs)) {
    const spirv = kernelSourceFromDir(dir).spirvFor('ffn.vecq', 'q4_0').spirv;
    const line = [];
    for (const params of points) {
      const v = { family: fam, instance, spirv, params };
      heatUp(ctx, cache, v, shape, sets);
      line.push(timeVariant(ctx, cache, v, shape, sets, { maxTimeMs: ms, warmupMs: 5 }).medianNs / 1e3);
    }
    console.log(`${name.padEnd(14)} ${line.map((u) => u.toFixed(2).padStart(7)).join(' ')}`);
  }
}
console.log('columns: ' + points.map((p) => JSON.stringify({ WG: p.WG, RPT: p.RPT, KSPLIT: p.KSPLIT, UNROLL: p.UNROLL, HB: p.HB, DU: p.DU, PF: p.PREFETCH })).join(' | '));
// a no-op dispatch floor for reference: the copy kernel on 4 KiB
const cf = familyById('copy');
const cv = { family: cf, instance: cf.instances[0], spirv: kernelSourceFromDir(dirs.real).spirvFor('copy', 'u32').spirv, params: cf.defaults };
const a = ctx.createBuffer(4096), b = ctx.createBuffer(4096);
console.log(`copy 4 KiB (dispatch floor, tuner protocol): ${(timeVariant(ctx, cache, cv, { bytes: 4096 }, [{ src: a, dst: b }], { maxTimeMs: ms, warmupMs: 5 }).medianNs / 1e3).toFixed(2)} us`);
