// GEMV sweep: matmul.vec over its pruned space for the ANCHORS.md GEMV shapes (and the 1B model's down
// projection), each variant timed with the tuner's protocol (timeVariant: warm-up, GPU timestamps, median)
// on rotated random weights; prints the best variants per shape with GB/s and % of 4.3 TB/s.
// The three fastest per shape are then validated against the trusted GPU reference (tuner/problems.ts).
// Usage (repository root, production node_modules on NODE_PATH):
//   [FAMILY=matmul.vec|matmul.vecq] [SCALE=16] [SHAPES=2] [VECS=1,2,4] [UNROLLS=1] node docs/runs/gemv-sweep.js [TYPES=q4_0,q8_0] [ms per variant, default 150]
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache } = d('generator/launch');
const { deviceLimits } = d('generator/device-limits');
const { enumerateVariants } = d('generator/prune');
const { weightBytes } = d('generator/ops');
const { kernelSourceFromDir } = d('tuner/autotune');
const { allocBenchBuffers } = d('tuner/bench-inputs');
const { timeVariant } = d('tuner/timing');
const { mulberry32 } = d('tuner/search');
const { familiesForOp } = d('generator/families');
const { makeProblem, trustedVariantFor } = d('tuner/problems');
const { validateVariant } = d('tuner/validate');
const types = (process.argv[2] ?? 'q4_0,q8_0').split(',');
const ms = Number(process.argv[3] ?? 150);
const ctx = vulkan.createContext(0);
const src = kernelSourceFromDir(path.join(__dirname, '..', '..', 'dist', 'kernels'));
const fam = familyById(process.env.FAMILY ?? 'matmul.vec');
const limits = deviceLimits(ctx.device);
const cache = new PipelineCache(ctx);
const sc = Number(process.env.SCALE ?? 1); // SCALE=16 for a quick check on a small device
const vecs = (process.env.VECS ?? '1,2,4').split(',').map(Number);
const unrolls = (process.env.UNROLLS ?? '1').split(',').map(Number);
const shapes = [{ M: 4096, K: 14336, N: 1 }, { M: 2048, K: 8192, N: 1 }, { M: 3072, K: 2048, N: 1 }, { M: 4096, K: 14336, N: 8 }].slice(0, Number(process.env.SHAPES ?? 3)).map((s) => ({ ...s, M: s.M / sc, K: s.K / sc }));
console.log(`gemv sweep of ${fam.id} on ${ctx.device.name}: ${types.join(', ')}, ${ms} ms per variant`);
for (const t of types) {
  const instance = fam.instances.find((i) => i.key === t);
  const spirv = src.spirvFor(fam.id, t).spirv;
  const space = enumerateVariants(fam, instance, limits).kept.filter((p) => (p.VEC === undefined || vecs.includes(p.VEC)) && (fam.id !== 'matmul.vec' || unrolls.includes(p.UNROLL)));
  for (const shape of shapes) {
    const bytes = weightBytes(t, shape.M * shape.K) + 4 * shape.K * shape.N;
    if (!fam.supports(shape, instance)) { console.log(`\n${t} M=${shape.M} K=${shape.K} N=${shape.N}: ${fam.id} does not support it`); continue; }
    const bufs = allocBenchBuffers(ctx, [{ name: 'A', dtype: t, elems: shape.M * shape.K }, { name: 'B', dtype: 'f32', elems: shape.N * shape.K }], { D: 4 * shape.M * shape.N }, { rng: mulberry32(1), scratchBytes: Math.max(16, ...[fam.defaults, ...space].map((q) => fam.plan(shape, q, instance).scratchBytes)) });
    const rows = [];
    const t0 = performance.now();
    for (const params of [fam.defaults, ...space]) {
      const v = { family: fam, instance, spirv, params };
      try {
        const s = timeVariant(ctx, cache, v, shape, bufs.sets, { maxTimeMs: ms, warmupMs: 10 });
        rows.push({ params, us: s.medianNs / 1e3 });
      } catch (e) { rows.push({ params, us: Infinity, err: e.message }); }
    }
    bufs.destroy();
    rows.sort((a, b) => a.us - b.us);
    const def = rows.find((r) => r.params === fam.defaults);
    console.log(`\n${t} M=${shape.M} K=${shape.K} N=${shape.N}: ${rows.length} variants in ${((performance.now() - t0) / 1e3).toFixed(0)} s; ${(bytes / 1e6).toFixed(1)} MB; floor at 4.3 TB/s ${(bytes / 4.3e6).toFixed(1)} us; default ${def.us.toFixed(1)} us`);
    const trusted = trustedVariantFor(familiesForOp('matmul'), shape, t);
    const tspirv = src.spirvFor(trusted.family.id, trusted.instance.key).spirv;
    const problem = makeProblem(ctx, 'matmul', shape, t, mulberry32(2), { gpuReference: { variant: { ...trusted, spirv: tspirv, params: trusted.family.defaults }, cache } });
    for (const [i, r] of rows.slice(0, 8).entries()) {
      const p = r.params;
      const check = i < 3 && Number.isFinite(r.us) ? validateVariant(ctx, cache, { family: fam, instance, spirv, params: p }, problem) : null;
      const ok = check ? (check.ok ? `ok ${check.relError.toExponential(1)}` : `FAILED ${check.reason}`) : '';
      console.log(`  ${r.us.toFixed(1).padStart(8)} us ${(bytes / r.us / 1e3).toFixed(0).padStart(5)} GB/s ${(100 * bytes / 4.3e6 / r.us).toFixed(0).padStart(3)}%  ${Object.entries(p).filter(([k]) => !['NCOLS', 'NORM', 'GLU', 'RESIDUAL', 'KB'].includes(k)).map(([k, v]) => `${k}=${v}`).join(' ')} ${ok}`);
    }
    problem.destroy();
  }
}
cache.destroy();
ctx.destroy();
