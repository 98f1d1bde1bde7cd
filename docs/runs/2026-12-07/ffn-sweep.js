// ffn.vecq against the unfused decode feed-forward (matmul.vecq gate|up with norm + swiglu, then down with the
// residual: the installed pack's winners), on the llama-3.2-1b shape (dim 2048, hidden 8192, Q4_0, N = 1).
// 1. ffn.vecq variants (LIMIT of them) timed alone (tuner protocol: heat-up, timeVariant, median; 16 weight sets rotated);
// 2. 16 "layers" chained as a decode step records them (one timestamp pair around all, barriers between):
//    unfused pair vs the 3 fastest ffn variants, per-layer us, alternating A/B three times;
// 3. the fused result against the unfused one on the same weights (relative error of Y - X).
// Usage (repository root): [LIMIT=200] [SCALE=1] node docs/runs/2026-12-07/ffn-sweep.js [PACK] [ms per variant = 15]
const path = require('path');
const d = (m) => require(path.join(__dirname, '..', '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant } = d('generator/launch');
const { deviceLimits } = d('generator/device-limits');
const { enumerateVariants } = d('generator/prune');
const { kernelSourceFromDir } = d('tuner/autotune');
const { heatUp, timeVariant } = d('tuner/timing');
const { summarize } = d('tuner/stats');
const { randomTensorBytes } = d('tuner/bench-inputs');
const { mulberry32 } = d('tuner/search');
const { relativeError } = d('tuner/reference/matmul');
const { readPack } = d('tuner/pack/read');
const { KernelSet } = d('runtime/kernels');

const root = path.join(__dirname, '..', '..', '..');
const packPath = process.argv[2] ?? path.join(root, 'packs', 'nvidia-h200-llama-3.2-1b-q4_0.kpack');
const ms = Number(process.argv[3] ?? 15);
const ctx = vulkan.createContext(0);
const limits = deviceLimits(ctx.device);
const src = kernelSourceFromDir(path.join(root, 'dist', 'kernels'));
const cache = new PipelineCache(ctx);
const fam = familyById('ffn.vecq');
const instance = fam.instances.find((i) => i.key === 'q4_0');
const spirv = src.spirvFor(fam.id, 'q4_0').spirv;
const sc = Number(process.env.SCALE ?? 1); // SCALE=16: a quick check on a small device
const dim = 2048 / sc, hidden = 8192 / sc, N = 1, eps = 1e-5, L = 16;
const shape = { N, dim, hidden, eps };
const rand = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const upload = (data) => { const b = ctx.createBuffer(Math.ceil(data.byteLength / 4) * 4); ctx.upload(b, data); return b; };
const f32 = (n) => ctx.createBuffer(4 * n);
console.log(`ffn.vecq vs the unfused feed-forward on ${ctx.device.name} (${limits.multiprocessorCount} SMs), dim ${dim}, hidden ${hidden}, q4_0, N = ${N}; pack ${path.basename(packPath)}`);
// random valid blocks (f16 scales 2^-8 <= d < 2^-4) already in the GPU layout: no host quantization of 50M values
const wguHost = randomTensorBytes('q4_0', 2 * hidden * dim, mulberry32(1));
const wdHost = randomTensorBytes('q4_0', dim * hidden, mulberry32(2));
const Wgu = [], Wd = [];
for (let l = 0; l < L; l++) { Wgu.push(upload(wguHost)); Wd.push(upload(wdHost)); }
const xHost = rand(N * dim).map((v) => v * 3);
const G = upload(rand(dim));
const X = upload(xHost);
const S = [f32(N * dim), f32(N * dim), f32(N * dim)];
const sets = Wgu.map((w, l) => ({ Wgu: w, X, Y: S[0], G, Wd: Wd[l], Z: S[1] }));

// 1. sweep
// LIMIT variants at most (a seeded random subset, the default first): creating a pipeline per variant takes
// ~0.1 s on the NVIDIA driver, so the whole space (1296 points) does not fit one call
const limit = Number(process.env.LIMIT ?? 200);
const all = enumerateVariants(fam, instance, limits).kept.filter((p) => fam.supportsVariant(shape, p, instance));
const pick = mulberry32(7);
const shuffled = all.map((p) => [pick(), p]).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
const space = [fam.defaults, ...shuffled.filter((p) => JSON.stringify(p) !== JSON.stringify(fam.defaults))].slice(0, limit);
const t0 = performance.now();
heatUp(ctx, cache, { family: fam, instance, spirv, params: fam.defaults }, shape, sets);
const rows = [];
for (const params of space) {
  try {
    const s = timeVariant(ctx, cache, { family: fam, instance, spirv, params }, shape, sets, { maxTimeMs: ms, warmupMs: 5 });
    rows.push({ params, us: s.medianNs / 1e3 });
  } catch (e) { rows.push({ params, us: Infinity, err: e.message }); }
}
rows.sort((a, b) => a.us - b.us);
const bytes = wguHost.length + wdHost.length;
console.log(`\n1. ${rows.length} variants in ${((performance.now() - t0) / 1e3).toFixed(0)} s; weights ${(bytes / 1e6).toFixed(1)} MB (floor at 4.3 TB/s ${(bytes / 4.3e6).toFixed(2)} us)`);
for (const r of rows.slice(0, 12)) console.log(`  ${r.us.toFixed(2).padStart(8)} us  ${(bytes / r.us / 1e6).toFixed(2)} TB/s  ${JSON.stringify(r.params)}`);
console.log(`  slowest: ${rows[rows.length - 1].us.toFixed(2)} us; default ${rows.find((r) => JSON.stringify(r.params) === JSON.stringify(fam.defaults))?.us.toFixed(2)} us`);

// 2. chained, as a decode step
const kernels = new KernelSet(ctx, [readPack(packPath), readPack(path.join(root, 'dist', 'default.kpack'))]);
const guReq = { op: 'matmul', instance: 'q4_0', shape: { M: hidden, N, K: dim, epilogue: { norm: { eps }, glu: true } }, shapeKey: { M: 2 * hidden, K: dim }, batch: N, depth: 0 };
const dnReq = { op: 'matmul', instance: 'q4_0', shape: { M: dim, N, K: hidden, epilogue: { residual: true } }, shapeKey: { M: dim, K: hidden }, batch: N, depth: 0 };
const gu = kernels.choose(guReq), dn = kernels.choose(dnReq);
console.log(`\n2. unfused: gate|up ${gu.variant.family.id} ${JSON.stringify(gu.variant.params)} (${gu.level}); down ${dn.variant.family.id} ${JSON.stringify(dn.variant.params)} (${dn.level})`);
const act = f32(N * hidden), res = upload(xHost), scratch = ctx.createBuffer(1 << 20);
const seq = ctx.createSequence();
function chain(record) {
  const per = [];
  for (let rep = 0; rep < 9; rep++) {
    seq.reset();
    seq.timestamp();
    for (let l = 0; l < L; l++) record(l);
    seq.timestamp();
    seq.submit();
    const ts = seq.timestamps();
    if (rep > 1) per.push((ts[1] - ts[0]) / 1e3 / L);
  }
  return summarize(per).medianNs;
}
const unfused = () => chain((l) => {
  kernels.record(seq, guReq, { A: Wgu[l], B: res, D: act, G, scratch });
  kernels.record(seq, dnReq, { A: Wd[l], B: act, D: res, scratch });
});
const fused = (params) => chain((l) => {
  recordVariant(seq, cache, { family: fam, instance, spirv, params }, shape, { Wgu: Wgu[l], X: S[l % 3], Y: S[(l + 1) % 3], G, Wd: Wd[l], Z: S[(l + 2) % 3] });
});
const best = rows.filter((r) => Number.isFinite(r.us)).slice(0, 3);
heatUp(ctx, cache, { family: fam, instance, spirv, params: best[0].params }, shape, sets);
for (let round = 0; round < 3; round++) {
  const line = [`  round ${round}: unfused ${unfused().toFixed(2)} us/layer`];
  for (const b of best) line.push(`ffn ${JSON.stringify({ WG: b.params.WG, RPT: b.params.RPT, KSPLIT: b.params.KSPLIT, UNROLL: b.params.UNROLL, HB: b.params.HB, DU: b.params.DU })} ${fused(b.params).toFixed(2)}`);
  console.log(line.join('; '));
}

// 3. correctness on the same weights: fused Y (from zero) vs the unfused result
ctx.upload(res, xHost);
seq.reset();
kernels.record(seq, guReq, { A: Wgu[0], B: res, D: act, G, scratch });
kernels.record(seq, dnReq, { A: Wd[0], B: act, D: res, scratch });
seq.fill(S[1], 0);
seq.barrier();
recordVariant(seq, cache, { family: fam, instance, spirv, params: best[0].params }, shape, { Wgu: Wgu[0], X, Y: S[1], G, Wd: Wd[0], Z: S[2] });
seq.submit();
const yU = new Float32Array(ctx.download(res, 0, 4 * N * dim)), yF = new Float32Array(ctx.download(S[1], 0, 4 * N * dim));
const dU = Float64Array.from(yU, (v, i) => v - xHost[i]), dF = Float64Array.from(yF, (v, i) => v - xHost[i]);
const nonFinite = (a) => a.reduce((c, v) => c + (Number.isFinite(v) ? 0 : 1), 0);
console.log(`\n3. non-finite outputs: fused ${nonFinite(yF)}, unfused ${nonFinite(yU)} of ${yF.length}`);
console.log(`   FFN(X) fused vs unfused (both 8-bit activations): relative error ${relativeError(dF, dU).toExponential(2)}; |FFN| rms ${Math.sqrt(dU.reduce((a, v) => a + v * v, 0) / dU.length).toFixed(3)}`);
seq.destroy();
ctx.destroy();
