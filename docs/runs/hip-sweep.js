// HIP sweep: the HIP ports of matmul.vec (and matmul.tile for N > 1) or attention.vec over their pruned
// spaces at the device's warp size (tuner/hip/run.ts hipDeviceSpace), on the ANCHORS.md shapes, on a CUDA /
// HIP device through native/hip (NVRTC on NVIDIA). Per variant: rendered with only the entries its shape
// needs, compiled one after the other (a compile failure is logged and skipped), timed with timeHipVariant
// (warm-up, GPU events around each repetition, median) over rotation sets of random inputs that together
// span at least twice the L2, so weights come from HBM. The 3 fastest per shape are validated against the
// float64 CPU references (tuner/reference) by relative error, with the bounds of test/hip-kernels.test.ts
// (matmul 1e-5, attention with f16 K/V 1e-3). Prints one line per variant, then a table per shape: the best
// validated HIP time, GB/s, % of the 4.3 TB/s copy floor, and ggml's Vulkan / CUDA times (tuner/anchors.ts).
//
// Usage (repository root, after `npx tsc -p tsconfig.json`; the production node_modules resolvable):
//   [SHAPES=4096x14336x1,...|all] [MAX_S=240] [SEED=1] [REPS=100] [WARMUP_MS=50] \
//     node docs/runs/hip-sweep.js [q4_0|q8_0|f16|f32|attention] [maxVariants per family and shape, default 64]
// SHAPES (GEMV modes): MxKxN list, default 4096x14336x1 (the ANCHORS.md GEMV); `all` adds 4096x14336x8 and
// the Llama-3.2-1B decode GEMVs 3072x2048x1 (QKV), 2048x8192x1 (down), 16384x2048x1 (gate|up).
// attention: the ANCHORS.md decode rows with f16 K/V, D 64 / 128, nb = 1.
// Variants: the HIP defaults first, then a SEED-shuffled sample of the space (the same sample for every
// shape, so shapes that need the same entries reuse the compiled module). MAX_S caps the whole run (shared
// out over the shapes); a variant's timing is capped at 1 s.
// Exit status: 0 done; 1 a validation failed, no variant was timed and validated, or a kernel fault broke
// the context; 2 bad usage, dist/ not built, or no CUDA / HIP device.
'use strict';
const fs = require('fs');
const path = require('path');

const MODES = ['q4_0', 'q8_0', 'f16', 'f32', 'attention'];
const USAGE = `usage: [SHAPES=MxKxN,...|all] [MAX_S=240] [SEED=1] [REPS=100] [WARMUP_MS=50] node docs/runs/hip-sweep.js [${MODES.join('|')}] [maxVariants]`;
const mode = process.argv[2] ?? 'q4_0';
const maxVariants = Number(process.argv[3] ?? 64);
const maxS = Number(process.env.MAX_S ?? 240);
const seed = Number(process.env.SEED ?? 1);
const reps = Number(process.env.REPS ?? 100);
const warmupMs = Number(process.env.WARMUP_MS ?? 50);
if (!MODES.includes(mode) || !(Number.isInteger(maxVariants) && maxVariants >= 1) || !(maxS > 0) || !(reps >= 1) || !(warmupMs >= 0)) {
  console.error(USAGE);
  process.exit(2);
}
const dist = path.join(__dirname, '..', '..', 'dist');
if (!fs.existsSync(path.join(dist, 'tuner', 'hip', 'run.js'))) {
  console.error(`hip-sweep: ${dist} lacks tuner/hip/run.js: build first with \`npx tsc -p tsconfig.json\``);
  process.exit(2);
}
const d = (m) => require(path.join(dist, m));
const { hip } = d('native/hip');
const avail = hip.available();
if (!avail.ok) {
  console.error(`hip-sweep: no CUDA / HIP device: ${avail.reason}`);
  process.exit(2);
}
const { hipDefaults, hipFamily, hipInstance } = d('generator/hip/families');
const { weightBytes } = d('generator/ops');
const { ANCHORS, ANCHOR_COPY_BYTES_PER_S } = d('tuner/anchors');
const { H200_L2_BYTES, HipModuleCache, enqueueHipPlan, fmtParams, hipDeviceSpace, hipLaunchPlan, hipRotationSets, neededDispatch, timeHipVariant } = d('tuner/hip/run');
const { relativeError } = d('tuner/reference/matmul');
const { hipAttentionProblem, hipMatmulProblem, uploadHipSets } = d('tuner/hip/problems');
const { mulberry32 } = d('tuner/search');

const t0 = performance.now();
const deadline = t0 + maxS * 1e3;
const secs = () => ((performance.now() - t0) / 1e3).toFixed(0).padStart(4);
const log = (msg) => console.log(`[${secs()} s] ${msg}`);
const firstLine = (e) => String(e && e.message ? e.message : e).split('\n').find((l) => l.trim()) ?? String(e);
/** Thrown when a kernel fault leaves the context unusable (CUDA errors such as ILLEGAL_ADDRESS are sticky). */
class ContextLost extends Error {}

// ---- problems: shapes, host data, references ----
const ALL_GEMV = ['4096x14336x1', '4096x14336x8', '3072x2048x1', '2048x8192x1', '16384x2048x1'];
function gemvShapes() {
  const spec = process.env.SHAPES ?? ALL_GEMV[0];
  return (spec === 'all' ? ALL_GEMV : spec.split(',')).map((t) => {
    const m = /^(\d+)x(\d+)x(\d+)$/.exec(t.trim());
    if (!m) {
      console.error(`hip-sweep: SHAPES entry "${t}" is not MxKxN\n${USAGE}`);
      process.exit(2);
    }
    const s = { M: Number(m[1]), K: Number(m[2]), N: Number(m[3]) };
    if (!familiesFor(s).length) {
      console.error(`hip-sweep: no HIP matmul family runs ${mode} ${t} (M, K, N >= 1; K a multiple of the block size)`);
      process.exit(2);
    }
    return s;
  });
}

/** The ANCHORS.md decode rows this sweep covers: f16 K/V, D 64 / 128, one query row. */
const ATTN_ANCHORS = ANCHORS.filter((a) => a.op === 'attention' && a.kvType === 'f16' && a.nb === 1 && (a.D === 64 || a.D === 128));
const attentionShape = (a) => ({ D: a.D, heads: a.nh * a.r, kvHeads: a.nh, queries: 1, kvLength: a.kv, kvStride: a.kv, queryPos0: a.kv - 1, causal: a.causal, scale: 1 / Math.sqrt(a.D) });

/** A GEMV problem of weight type `type` (tuner/hip/problems.ts) with its label, the bytes one call moves and its anchor row. */
function gemvProblem(type, s, rng) {
  return {
    ...hipMatmulProblem(type, s, rng),
    label: `${type} M=${s.M} K=${s.K} N=${s.N}`,
    bytes: weightBytes(type, s.M * s.K) + 4 * s.K * s.N + 4 * s.M * s.N,
    anchor: ANCHORS.find((a) => a.op === 'matmul' && a.type === type && a.m === s.M && a.k === s.K && a.n === s.N),
  };
}

/** An attention decode problem of anchor row `a`: f16 K/V (tuner/hip/problems.ts). */
function attentionProblem(a, rng) {
  const s = attentionShape(a);
  return {
    ...hipAttentionProblem('f16', s, rng),
    label: `attn f16 D=${a.D} nh=${a.nh} r=${a.r} kv=${a.kv} nb=1`,
    bytes: 2 * 2 * s.kvHeads * s.kvLength * s.D + 2 * 4 * s.heads * s.D,
    anchor: a,
  };
}

/** hipRotationSets(one set's bytes) device copies of the problem's inputs (tuner/hip/problems.ts uploadHipSets). */
function allocSets(ctx, problem, scratchBytes) {
  const setBytes = Object.values(problem.inputs).reduce((n, a) => n + a.byteLength, 0);
  return uploadHipSets(ctx, problem, hipRotationSets(setBytes), scratchBytes);
}

// ---- variants ----
/** Up to `max` points of `space`: the HIP defaults first (when in the space), then a seeded shuffle of the rest. */
function sampleSpace(hf, space, max, rng) {
  const key = (p) => JSON.stringify(p);
  const def = key(hipDefaults(hf));
  const first = space.filter((p) => key(p) === def);
  const rest = space.filter((p) => key(p) !== def);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return [...first, ...rest].slice(0, max);
}

/** Parameter names that vary over `space` (the ones worth printing). */
const varyingNames = (space) => (space.length ? Object.keys(space[0]).filter((k) => new Set(space.map((p) => p[k])).size > 1) : []);
const show = (params, names) => fmtParams(Object.fromEntries(names.map((k) => [k, params[k]])));

/** Run the variant once on set 0 and compare its output with the problem's float64 reference. */
function validate(ctx, row, problem, sets) {
  const set = sets[0];
  const out = set[problem.output.name];
  const launch = hipLaunchPlan(row.loaded.spec, problem.shape, row.loaded.wave);
  ctx.fill(out, 0x7fc00000);
  enqueueHipPlan(ctx, row.loaded.module, launch, set);
  ctx.synchronize();
  const err = relativeError(new Float32Array(ctx.download(out, 0, 4 * problem.output.elems)), problem.ref);
  return { ok: err < problem.bound, err };
}

function contextAlive(ctx) {
  try {
    ctx.synchronize();
    return true;
  } catch {
    return false;
  }
}

// ---- main ----
const attention = mode === 'attention';
const inst = (id) => hipInstance(hipFamily(id), attention ? 'f16' : mode);
/** Family ids for a shape: attention.vec; matmul.vec for N <= 8 and matmul.tile for N > 1; those that support it. */
const familiesFor = (s) =>
  (attention ? ['attention.vec'] : [...(s.N <= 8 ? ['matmul.vec'] : []), ...(s.N > 1 ? ['matmul.tile'] : [])]).filter((id) => hipFamily(id).family.supports(s, inst(id)));
const shapes = attention ? ATTN_ANCHORS : gemvShapes();

const ctx = hip.createContext(Number(process.env.KPACK_HIP_DEVICE ?? 0));
const dev = ctx.device;
const cache = new HipModuleCache(ctx);
const compiler = dev.api === 'cuda' ? `NVRTC (${avail.nvrtc.reason})` : `hiprtc (${avail.hiprtc.reason})`;
console.log(`hip sweep ${mode} on ${dev.name} (${dev.api} ${dev.arch}, warp ${dev.warpSize}, driver ${dev.driverVersion}), ${compiler}`);
console.log(`  up to ${maxVariants} variants per family and shape, MAX_S=${maxS}, REPS=${reps}, WARMUP_MS=${warmupMs}, SEED=${seed}; rotation sets span >= 2 x ${H200_L2_BYTES / 2 ** 20} MiB L2`);

const spaces = new Map();
const spaceOf = (id) => {
  if (!spaces.has(id)) {
    const hf = hipFamily(id);
    const space = hipDeviceSpace(hf, inst(id), dev);
    spaces.set(id, { hf, space, names: varyingNames(space), order: sampleSpace(hf, space, maxVariants, mulberry32(seed + [...id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0))) });
  }
  return spaces.get(id);
};

const results = [];
let failures = 0;
function sweepShape(entry, shapeDeadline) {
  const shape = attention ? attentionShape(entry) : entry;
  const ids = familiesFor(shape);
  ids.forEach(spaceOf); // enumerate the spaces (about 1 s for matmul.tile) outside the setup time below
  const h0 = performance.now();
  const rng = mulberry32(seed);
  const problem = attention ? attentionProblem(entry, rng) : gemvProblem(mode, entry, rng);
  const result = { problem, timed: 0, best: null, note: '' };
  results.push(result);
  // attention.vec's scratch depends on KV_CHUNK: size it for every sampled variant.
  let scratch = 0;
  for (const id of ids) {
    const { hf, order } = spaceOf(id);
    for (const params of order) {
      const lp = hipLaunchPlan({ hf, inst: inst(id), params }, problem.shape, dev.warpSize);
      if (!('rejected' in lp)) scratch = Math.max(scratch, lp.plan.scratchBytes);
    }
  }
  const bufs = allocSets(ctx, problem, scratch);
  const floorUs = (problem.bytes / ANCHOR_COPY_BYTES_PER_S) * 1e6;
  log(`${problem.label}: ${(problem.bytes / 1e6).toFixed(1)} MB per call, floor ${floorUs.toFixed(2)} us at 4.3 TB/s; ${bufs.sets.length} input sets x ${(bufs.setBytes / 1e6).toFixed(1)} MB; inputs + reference in ${((performance.now() - h0) / 1e3).toFixed(1)} s`);
  const rows = [];
  try {
    ids.forEach((id, fi) => {
      const { hf, space, names, order } = spaceOf(id);
      const famDeadline = performance.now() + (shapeDeadline - performance.now() - 2e3) / (ids.length - fi);
      log(`  ${id}/${inst(id).key}: ${space.length} points in the space, timing ${order.length}`);
      for (const [i, params] of order.entries()) {
        const tag = `  [${String(i + 1).padStart(3)}/${order.length}] ${id.padEnd(13)}`;
        if (performance.now() > famDeadline) {
          log(`  ${id}: time cap, ${order.length - i} variants left untimed`);
          break;
        }
        const base = { hf, inst: inst(id), params };
        const dispatch = Object.keys(hf.dispatch).length ? neededDispatch(base, [problem.shape], dev.warpSize) : undefined;
        if (dispatch && !dispatch.length) {
          const lp = hipLaunchPlan(base, problem.shape, dev.warpSize);
          console.log(`${tag} skipped: ${'rejected' in lp ? lp.rejected : 'no entry'}  ${show(params, names)}`);
          continue;
        }
        const before = cache.compileMs;
        let loaded;
        try {
          loaded = cache.load({ ...base, dispatch });
        } catch (e) {
          console.log(`${tag} compile failed: ${firstLine(e)}  ${show(params, names)}`);
          continue;
        }
        const compile = cache.compileMs > before ? `compile ${((cache.compileMs - before) / 1e3).toFixed(2)} s` : 'cached';
        let t;
        try {
          t = timeHipVariant(ctx, loaded, problem.shape, bufs.sets, { reps, warmupMs, maxTimeMs: 1000 });
        } catch (e) {
          console.log(`${tag} launch failed: ${firstLine(e)}  ${show(params, names)}`);
          if (!contextAlive(ctx)) throw new ContextLost(`${id} ${fmtParams(params)}: ${firstLine(e)}`);
          continue;
        }
        const us = t.medianNs / 1e3;
        rows.push({ id, params, names, loaded, t, us });
        result.timed++;
        const gbs = problem.bytes / t.medianNs;
        console.log(`${tag} ${us.toFixed(2).padStart(8)} us (p10 ${(t.p10Ns / 1e3).toFixed(2)}, p90 ${(t.p90Ns / 1e3).toFixed(2)}, n ${t.n}) ${gbs.toFixed(0).padStart(5)} GB/s ${((100 * floorUs) / us).toFixed(0).padStart(3)}%  ${compile}  ${show(params, names)}`);
      }
    });
    rows.sort((a, b) => a.us - b.us);
    for (const row of rows.slice(0, 3)) {
      const v = validate(ctx, row, problem, bufs.sets);
      row.valid = v.ok;
      if (!v.ok) failures++;
      log(`  validate ${row.us.toFixed(2)} us ${row.id} ${show(row.params, row.names)}: ${v.ok ? 'ok' : 'FAILED'} rel err ${v.err.toExponential(2)} (bound ${problem.bound})`);
      if (v.ok && !result.best) result.best = row;
    }
    if (rows.length && !result.best) result.note = 'none of the 3 fastest validated';
  } finally {
    bufs.destroy();
  }
}

function printTable() {
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  console.log(`\nhip sweep ${mode} on ${dev.name}: best validated variant per shape (us per call; ggml columns from ANCHORS.md, same GPU kind)`);
  console.log(`${pad('shape', 38)} ${lpad('timed', 5)} ${lpad('HIP us', 8)} ${lpad('GB/s', 6)} ${lpad('%floor', 6)} ${lpad('Vulkan', 7)} ${lpad('CUDA', 7)} ${lpad('vs best', 7)}  variant`);
  for (const r of results) {
    const a = r.problem.anchor;
    const b = r.best;
    const floorUs = (r.problem.bytes / ANCHOR_COPY_BYTES_PER_S) * 1e6;
    const cols = b
      ? [lpad(b.us.toFixed(2), 8), lpad((r.problem.bytes / b.t.medianNs).toFixed(0), 6), lpad(((100 * floorUs) / b.us).toFixed(0) + '%', 6)]
      : [lpad('-', 8), lpad('-', 6), lpad('-', 6)];
    const ggml = a ? [lpad(a.vulkanUs.toFixed(2), 7), lpad(a.cudaUs.toFixed(2), 7), lpad(b ? `${(Math.min(a.vulkanUs, a.cudaUs) / b.us).toFixed(2)}x` : '-', 7)] : [lpad('-', 7), lpad('-', 7), lpad('-', 7)];
    const what = b ? `${b.id} ${show(b.params, b.names)}` : r.note || 'nothing timed';
    console.log(`${pad(r.problem.label, 38)} ${lpad(r.timed, 5)} ${cols.join(' ')} ${ggml.join(' ')}  ${what}`);
  }
  console.log(`(${cache.compiles} sources compiled in ${(cache.compileMs / 1e3).toFixed(1)} s; total ${secs().trim()} s; "vs best" = faster ggml column / HIP, > 1 means HIP is faster)`);
}

let lost = null;
try {
  for (const [i, s] of shapes.entries()) {
    const left = deadline - performance.now();
    if (left <= 0) {
      log(`time cap (MAX_S=${maxS}): ${shapes.length - i} shapes left out`);
      break;
    }
    sweepShape(s, performance.now() + left / (shapes.length - i));
  }
} catch (e) {
  if (!(e instanceof ContextLost)) throw e;
  lost = e;
}
printTable();
if (lost) console.log(`\nhip-sweep: stopped: a kernel fault broke the context (${lost.message})`);
if (failures) console.log(`\nhip-sweep: ${failures} validation(s) FAILED`);
const none = results.every((r) => !r.best);
if (none) console.log('\nhip-sweep: no variant was timed and validated');
if (!lost) {
  cache.destroy();
  ctx.destroy();
}
process.exit(lost || failures || none ? 1 : 0);
