// Attention sweep: attention.vec (f16 K/V, decode, one query row) on the 1B model's and ANCHORS.md's decode
// shapes, the same sampled parameter points timed with two builds of the SPIR-V: dist/kernels-old (the
// template before KVU and the unrolled loops) and dist/kernels (now), with the tuner's protocol (timeVariant:
// warm-up, GPU timestamps, median over rotated random inputs). New-only points (KVU 2, 4) are timed too.
// The fastest new variant per shape is validated against the float64 reference (tuner/problems.ts).
// Usage (repository root, production node_modules on NODE_PATH):
//   [SAMPLES=40] [SCALE=1] [OLD_DIR=dist/kernels-old] [OLD_HAS_KVU=1] node docs/runs/attn-sweep.js [ms per variant, default 40]
const path = require('path');
const fs = require('fs');
const d = (m) => require(path.join(__dirname, '..', '..', 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache } = d('generator/launch');
const { deviceLimits } = d('generator/device-limits');
const { enumerateVariants } = d('generator/prune');
const { kernelSourceFromDir } = d('tuner/autotune');
const { allocBenchBuffers } = d('tuner/bench-inputs');
const { timeVariant } = d('tuner/timing');
const { mulberry32 } = d('tuner/search');
const { makeProblem, trustedVariantFor } = d('tuner/problems');
const { familiesForOp } = d('generator/families');
const { validateVariant } = d('tuner/validate');
const { attentionWorkload } = d('tuner/workloads');

const ms = Number(process.argv[2] ?? 40);
const samples = Number(process.env.SAMPLES ?? 40);
const sc = Number(process.env.SCALE ?? 1); // SCALE=16 for a quick run on lavapipe
const ctx = vulkan.createContext(0);
const dist = path.join(__dirname, '..', '..', 'dist');
const src = kernelSourceFromDir(path.join(dist, 'kernels'));
const oldDir = process.env.OLD_DIR ?? path.join(dist, 'kernels-old');
const oldHasKvu = process.env.OLD_HAS_KVU === '1'; // the old build has KVU: time every point on it
const srcOld = fs.existsSync(oldDir) ? kernelSourceFromDir(oldDir) : null;
const fam = familyById('attention.vec');
const inst = fam.instances.find((i) => i.key === 'f16');
const limits = deviceLimits(ctx.device);
const cache = new PipelineCache(ctx);
const spirv = src.spirvFor(fam.id, 'f16').spirv;
const spirvOld = srcOld ? srcOld.spirvFor(fam.id, 'f16').spirv : null;
const shape = (name, D, kvHeads, r, kv) => {
  const kvLength = Math.max(2, Math.round(kv / sc));
  return { name, s: { D, heads: kvHeads * r, kvHeads, queries: 1, kvLength, kvStride: Math.ceil(kvLength / 256) * 256, queryPos0: kvLength - 1, causal: true, scale: 1 / Math.sqrt(D) } };
};
const shapes = [
  shape('1B decode depth 128', 64, 8, 4, 128),
  shape('1B decode depth 4096', 64, 8, 4, 4096),
  shape('anchor D64 nh8 r1 kv4096', 64, 8, 1, 4096),
  shape('anchor D64 nh8 r4 kv16384', 64, 8, 4, 16384),
  shape('anchor D128 nh8 r4 kv8192', 128, 8, 4, 8192),
  shape('anchor D128 nh8 r4 kv16384', 128, 8, 4, 16384),
];
const ANCHOR = { 'anchor D64 nh8 r1 kv4096': [11.33, 9.11], 'anchor D64 nh8 r4 kv16384': [37.33, 18.81], 'anchor D128 nh8 r4 kv8192': [26.82, 20.82], 'anchor D128 nh8 r4 kv16384': [55.34, 34.82] };
const fmt = (p) => ['WG', 'TPR', 'ROWS', 'KV_CHUNK', 'GQA_PACK', 'SG_REDUCE', 'KVU'].map((k) => `${k}=${p[k]}`).join(' ');
console.log(`attention.vec sweep on ${ctx.device.name}: f16 K/V, q=1, ${ms} ms per variant, ${samples} sampled points per KVU value; old SPIR-V: ${srcOld ? oldDir : 'none'}`);
const summary = [];
for (const { name, s } of shapes) {
  const rng = mulberry32(7);
  const space = enumerateVariants(fam, inst, limits).kept.map((p) => ({ ...p, D: s.D })).filter((p) => !fam.reject(p, inst, limits) && fam.supports(s, inst));
  const pick = (kvu) => {
    const pts = space.filter((p) => p.KVU === kvu);
    for (let i = pts.length - 1; i > 0; i--) { const j = Math.floor(rng() * (i + 1)); [pts[i], pts[j]] = [pts[j], pts[i]]; }
    return pts.slice(0, samples);
  };
  // a few hand-picked points (many workgroups, short splits) beside the random sample
  const designed = [];
  for (const KVU of [1, 2, 4]) for (const SG_REDUCE of [0, 1]) for (const KV_CHUNK of [128, 256]) designed.push({ ...fam.defaults, D: s.D, WG: 256, TPR: 8, ROWS: 4, KV_CHUNK, GQA_PACK: 1, SG_REDUCE, KVU });
  const ok = designed.filter((p) => !fam.reject(p, inst, limits));
  const base = [{ ...fam.defaults, D: s.D }, ...ok.filter((p) => p.KVU === 1), ...pick(1)];
  const points = [...base, ...ok.filter((p) => p.KVU !== 1), ...pick(2), ...pick(4)];
  const scratchBytes = Math.max(16, ...points.map((p) => fam.plan(s, p, inst).scratchBytes));
  const kvElems = s.kvHeads * s.kvStride * s.D;
  const bufs = allocBenchBuffers(ctx, [{ name: 'Q', dtype: 'f32', elems: s.heads * s.D }, { name: 'K', dtype: 'f16', elems: kvElems }, { name: 'V', dtype: 'f16', elems: kvElems }], { O: 4 * s.heads * s.D }, { rng: mulberry32(1), scratchBytes });
  const time = (code, params) => {
    try { return timeVariant(ctx, cache, { family: fam, instance: inst, spirv: code, params }, s, bufs.sets, { maxTimeMs: ms, warmupMs: 5 }).medianNs / 1e3; } catch (e) { return Infinity; }
  };
  const rows = points.map((p) => ({ p, us: time(spirv, p), old: spirvOld && (oldHasKvu || p.KVU === 1) ? time(spirvOld, p) : null }));
  bufs.destroy();
  const bytes = attentionWorkload('f16', s).minBytes;
  const best = (xs, key) => xs.filter((r) => Number.isFinite(r[key])).sort((a, b) => a[key] - b[key])[0];
  const bOld = best(rows.filter((r) => r.old !== null), 'old');
  const bNew1 = best(rows.filter((r) => r.p.KVU === 1), 'us');
  const bNew = best(rows, 'us');
  const def = rows[0];
  // float64 reference on the CPU where it is small enough, else the trusted GPU reference (tuner/problems.ts)
  let problem;
  try {
    problem = makeProblem(ctx, 'attention', s, 'f16', mulberry32(3));
  } catch {
    const trusted = trustedVariantFor(familiesForOp('attention'), s, 'f16');
    const tspirv = src.spirvFor(trusted.family.id, trusted.instance.key).spirv;
    problem = makeProblem(ctx, 'attention', s, 'f16', mulberry32(3), { gpuReference: { variant: { ...trusted, spirv: tspirv, params: trusted.family.defaults }, cache } });
  }
  const check = validateVariant(ctx, cache, { family: fam, instance: inst, spirv, params: bNew.p }, problem);
  problem.destroy();
  const pct = (us) => `${((100 * bytes) / 4.3e6 / us).toFixed(0)}%`;
  console.log(`\n${name}: D=${s.D} heads ${s.heads}/${s.kvHeads} kv=${s.kvLength}; ${(bytes / 1e6).toFixed(2)} MB, floor ${(bytes / 4.3e6).toFixed(2)} us; ${rows.length} points (${base.length} also on the old SPIR-V)`);
  console.log(`  default:             old ${def.old?.toFixed(2) ?? '-'} us, new ${def.us.toFixed(2)} us`);
  if (bOld) console.log(`  best old:            ${bOld.old.toFixed(2)} us (${pct(bOld.old)} of floor), same point new ${bOld.us.toFixed(2)}  ${fmt(bOld.p)}`);
  console.log(`  best new, KVU 1:     ${bNew1.us.toFixed(2)} us  ${fmt(bNew1.p)}`);
  console.log(`  best new:            ${bNew.us.toFixed(2)} us (${pct(bNew.us)} of floor)  ${fmt(bNew.p)}  ${check.ok ? `ok rel err ${check.relError.toExponential(1)}` : `FAILED ${check.reason}`}`);
  for (const kvu of [1, 2, 4]) {
    const b = best(rows.filter((r) => r.p.KVU === kvu), 'us');
    if (b) console.log(`    KVU ${kvu}: best ${b.us.toFixed(2)} us`);
  }
  const an = sc === 1 ? ANCHOR[name] : undefined;
  summary.push({ name, floor: bytes / 4.3e6, old: bOld?.old ?? null, new: bNew.us, anchor: an ?? null, ok: check.ok });
}
console.log('\nshape                              floor    old    new  new/old  ggml Vulkan / CUDA  vs faster ggml');
for (const r of summary) {
  const vs = r.anchor ? `${(Math.min(...r.anchor) / r.new).toFixed(2)}x` : '';
  console.log(`${r.name.padEnd(32)} ${r.floor.toFixed(2).padStart(6)} ${r.old?.toFixed(2).padStart(6) ?? '     -'} ${r.new.toFixed(2).padStart(6)} ${r.old ? (r.old / r.new).toFixed(2).padStart(7) + 'x' : ''}  ${r.anchor ? r.anchor.join(' / ').padStart(18) : ''.padStart(18)}  ${vs}${r.ok ? '' : ' (FAILED validation)'}`);
}
cache.destroy();
ctx.destroy();
