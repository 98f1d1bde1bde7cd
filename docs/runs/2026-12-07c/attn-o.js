// attention_o.vec (attention + O projection + residual in one dispatch) against attention.vec followed by the O
// GEMV (RESIDUAL epilogue), llama-3.2-1b's decode shape: dim 2048, heads 32, kvHeads 8, D 64, f16 K/V, q4_0 Wo,
// one query, at depths 0 and 4096 (or those given). Untimed so far: written without a GPU.
//
// Protocol: as a replayed decode step runs them. Shapes are planned for the end of the 256-position replay window
// (dynamicPos, the real position in the step buffer), L = 16 "layers" per submission, each with its own Wo and K/V
// cache (so weights are not L2-resident across layers), a timestamp after each layer; each layer is
//   unfused: attention (its plan's dispatches, barrier after each) then the O GEMV (barrier), or
//   fused:   one attention_o.vec dispatch (barrier).
// The per-layer time is the median over all layers of all submissions after a wall-clock warm-up.
// The unfused kernels are the ones the Llama graph picks from the packs (--pack FILE, then the built-in
// default pack); the fused variants are the pack's attention parameters (MERGE 1) crossed with OTPR, OU, OSPLIT and
// a few ROWS / WG, plus the family defaults. Before timing, every fused variant's X is checked against the unfused pair's (relative L2).
//
// Usage (repository root, after `npx tsc -p tsconfig.json && npm run build:kernels`):
//   node docs/runs/2026-12-07c/attn-o.js [--pack packs/nvidia-h100-llama-3.2-1b-q4_0.kpack] [--depths 0,4096] [--ms 1500] [--reps 50]
const path = require('path');
const root = path.join(__dirname, '..', '..', '..');
const d = (m) => require(path.join(root, 'dist', m));
const { vulkan } = d('native/vulkan');
const { familyById } = d('generator/families');
const { PipelineCache, recordVariant, createCounters } = d('generator/launch');
const { deviceLimits } = d('generator/device-limits');
const { variantSupports } = d('generator/schema');
const { kernelSourceFromDir } = d('tuner/autotune');
const { readPack } = d('tuner/pack/read');
const { randomTensorBytes } = d('tuner/bench-inputs');
const { mulberry32 } = d('tuner/search');
const { KernelSet } = d('runtime/kernels');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const depths = arg('--depths', '0,4096').split(',').map(Number);
const ms = Number(arg('--ms', '1500'));
const packFile = arg('--pack', null);
const reps = Number(arg('--reps', '50')); // timed submissions per variant (lower for a quick check on lavapipe)
const dim = 2048, heads = 32, kvHeads = 8, D = 64, L = 16, WINDOW = 256;
const K = heads * D;

const ctx = vulkan.createContext(0);
const cache = new PipelineCache(ctx);
const limits = deviceLimits(ctx.device);
const packs = [...(packFile ? [readPack(packFile)] : []), readPack(path.join(root, 'dist', 'default.kpack'))];
const kernels = new KernelSet(ctx, packs);
const src = kernelSourceFromDir(path.join(root, 'dist', 'kernels'));
const fam = familyById('attention_o.vec');
const inst = fam.instances.find((i) => i.key === 'q4_0.f16');
const fusedSpirv = src.spirvFor(fam.id, inst.key).spirv;
console.log(`device: ${ctx.device.name}; packs: ${packs.map((p) => p.name).join(', ')}; float atomics: ${limits.atomicFloatAdd}`);

const upload = (bytes) => { const b = ctx.createBuffer(Math.max(16, Math.ceil(bytes.byteLength / 16) * 16)); ctx.upload(b, bytes); return b; };
const rng = mulberry32(7);
const randF32 = (n) => Float32Array.from({ length: n }, () => rng() * 2 - 1);

for (const depth of depths) {
  const windowEnd = Math.ceil((depth + 1) / WINDOW) * WINDOW;
  const kvStride = windowEnd;
  const att = { D, heads, kvHeads, queries: 1, kvLength: windowEnd, kvStride, queryPos0: windowEnd - 1, causal: true, scale: 1 / Math.sqrt(D), dynamicPos: true };
  const ao = { ...att, dim };
  // the kernels the graph would pick (runtime/model/llama.ts attentionRequest / matmulRequest)
  const attV = kernels.choose({ op: 'attention', instance: 'f16', shape: att, shapeKey: { D, heads, kvHeads }, batch: 1, depth }).variant;
  const mmShape = { M: dim, N: 1, K, epilogue: { residual: true } };
  const mmV = kernels.choose({ op: 'matmul', instance: 'q4_0', shape: mmShape, shapeKey: { M: dim, K }, batch: 1, depth: 0 }).variant;
  const attPlan = attV.family.plan(att, attV.params, attV.instance);
  const mmPlan = mmV.family.plan(mmShape, mmV.params, mmV.instance);
  // per-layer buffers: Wo, K, V; shared: Q, step, the attention output, X, scratch, counters
  const step = upload(Uint32Array.of(depth));
  const Q = upload(randF32(K));
  const O = ctx.createBuffer(4 * K);
  const X = ctx.createBuffer(4 * dim);
  // enough for any KV_CHUNK >= 32 and OSPLIT <= 8 of the fused variants
  const scratch = ctx.createBuffer(Math.max(16, attPlan.scratchBytes, mmPlan.scratchBytes, 8 * Math.ceil(windowEnd / 32) * heads * (D + 2) * 4));
  const counters = createCounters(ctx);
  const layers = [];
  for (let l = 0; l < L; l++) {
    layers.push({
      Wo: upload(randomTensorBytes('q4_0', dim * K, rng)),
      K: upload(randomTensorBytes('f16', kvHeads * kvStride * D, rng)),
      V: upload(randomTensorBytes('f16', kvHeads * kvStride * D, rng)),
    });
  }
  const recordUnfused = (seq, ly) => {
    recordVariant(seq, cache, attV, att, { Q, K: ly.K, V: ly.V, O, scratch, step, counters }, attPlan);
    recordVariant(seq, cache, mmV, mmShape, { A: ly.Wo, B: O, D: X, scratch }, mmPlan);
  };
  const fusedOf = (params) => {
    const v = { family: fam, instance: inst, spirv: fusedSpirv, params };
    const plan = fam.plan(ao, params, inst);
    return { v, plan, record: (seq, ly) => recordVariant(seq, cache, v, ao, { Q, K: ly.K, V: ly.V, X, scratch, step, counters, Wo: ly.Wo }, plan) };
  };
  const xOnce = (record) => {
    const seq = ctx.createSequence();
    seq.fill(X, 0);
    seq.barrier();
    record(seq, layers[0]);
    seq.submit();
    seq.destroy();
    return new Float32Array(ctx.download(X, 0, 4 * dim));
  };
  const timeLayers = (record) => {
    const seq = ctx.createSequence();
    seq.timestamp();
    for (const ly of layers) {
      record(seq, ly);
      seq.timestamp();
    }
    const t0 = performance.now();
    while (performance.now() - t0 < ms) seq.submit(); // warm-up by the wall clock (clocks rise under load)
    const samples = [];
    for (let r = 0; r < reps; r++) {
      seq.submit();
      const ts = seq.timestamps();
      for (let i = 1; i < ts.length; i++) samples.push(ts[i] - ts[i - 1]);
    }
    seq.destroy();
    samples.sort((a, b) => a - b);
    return samples[samples.length >> 1] / 1e3;
  };
  const fmt = (v) => `${v.family.id}/${v.instance.key} ${JSON.stringify(v.params)}`;
  console.log(`\n== depth ${depth} (planned for ${windowEnd}; attention ${attPlan.steps.length} dispatch(es), splits ${attPlan.steps[0].groups[2]})`);
  console.log(`unfused: ${fmt(attV)}\n       + ${fmt(mmV)}`);
  const ref = xOnce(recordUnfused);
  const base = attV.family.id === 'attention.vec' ? { ...fam.defaults, ...attV.params, MERGE: 1 } : { ...fam.defaults };
  const points = [{ ...fam.defaults, D }];
  for (const OSPLIT of [1, 2, 4, 8]) for (const OTPR of [1, 2]) for (const OU of [1, 2]) points.push({ ...base, D, OTPR, OU, OSPLIT });
  for (const ROWS of [1, 2]) for (const OSPLIT of [2, 4]) points.push({ ...base, D, ROWS, OTPR: 2, OU: 2, OSPLIT });
  for (const WG of [128, 256]) points.push({ ...base, D, WG, OTPR: 2, OU: 2, OSPLIT: 4 });
  const seen = new Set();
  const unfusedUs = timeLayers(recordUnfused);
  console.log(`unfused per layer: ${unfusedUs.toFixed(2)} us`);
  let best = null;
  for (const p of points) {
    const key = JSON.stringify(p);
    if (seen.has(key)) continue;
    seen.add(key);
    const why = fam.reject(p, inst, limits);
    if (why || !variantSupports(fam, ao, p, inst)) {
      console.log(`  skip ${key}: ${why ?? 'shape not supported'}`);
      continue;
    }
    const f = fusedOf(p);
    const x = xOnce(f.record);
    let num = 0, den = 0;
    for (let i = 0; i < dim; i++) { num += (x[i] - ref[i]) ** 2; den += ref[i] ** 2; }
    const err = Math.sqrt(num / den);
    const us = timeLayers(f.record);
    if (!best || us < best.us) best = { us, p };
    console.log(`  fused ${us.toFixed(2).padStart(7)} us  (x ${(unfusedUs / us).toFixed(2)})  rel err vs unfused ${err.toExponential(1)}  ${JSON.stringify({ WG: p.WG, TPR: p.TPR, ROWS: p.ROWS, KV_CHUNK: p.KV_CHUNK, GQA_PACK: p.GQA_PACK, SG_REDUCE: p.SG_REDUCE, KVU: p.KVU, OTPR: p.OTPR, OU: p.OU, OSPLIT: p.OSPLIT })}`);
  }
  if (best) console.log(`best fused ${best.us.toFixed(2)} us vs unfused ${unfusedUs.toFixed(2)} us per layer at depth ${depth}`);
  for (const b of [step, Q, O, X, scratch, counters, ...layers.flatMap((ly) => [ly.Wo, ly.K, ly.V])]) b.destroy();
}
cache.destroy();
ctx.destroy();
