/**
 * Tuning through the HIP back-end (`kpack autotune --backend hip|all`): for each matmul and attention
 * workload of tuner/workloads.ts, the HIP ports of the families that run it (generator/hip/families.ts:
 * matmul.vec for N <= 8, matmul.tile, attention.vec for decode, attention.tile for prompts) are timed on a
 * HIP / CUDA device (native/hip; NVRTC on NVIDIA, hiprtc on AMD; matmul.coopmat for N > 8 only on devices
 * with a matrix instruction: CDNA MFMA, RDNA3 WMMA, NVIDIA sm_80+) and the fastest that validates is recorded
 * per bucket (tuner/pack/format.ts HipTunedEntry). The workloads of one bucket are tuned separately; a
 * bucket's record is its first workload's.
 *
 * Per workload: candidates = the HIP defaults, then a seeded shuffle of hipDeviceSpace (the pruned space at
 * the device's wavefront size), timed one by one (tuner/hip/run.ts timeHipVariant: warm-up, GPU events,
 * median, inputs rotated over sets spanning twice the L2, random valid blocks from tuner/bench-inputs.ts)
 * until the workload's share of the budget is spent. The fastest VALIDATE_TOP + 1 and the defaults are then
 * timed again, back to back, after a heat-up (run.ts heatHip), and those times rank them. The 3 fastest are then validated, in order, on a
 * reduced shape of the same K / D / depth (HIP_VALIDATE_ROWS weight rows and at most HIP_VALIDATE_COLS
 * columns; at most HIP_VALIDATE_QUERIES query rows, the last ones, of an attention call) against the
 * float64 references of tuner/reference by relative L2 error: bound 1e-5 for matmul with exact
 * (dequantized) weights and 1e-3 for attention with f16 K/V, those of test/hip-kernels.test.ts, or the
 * family's own looser bound (HipFamily.tolerance: matmul.coopmat's f16 operands, 2e-3); a plan with counters
 * (DispatchPlan.counterWords: attention.vec MERGE 1) gets them zeroed (tuner/hip/problems.ts uploadHipSets,
 * zeroed again before each timing) and must leave them zero to validate. A variant
 * whose compile or launch fails is skipped; a kernel fault that leaves the context unusable ends the run.
 *
 * Each recorded entry carries the rendered sources the runtime compiles for its bucket (`sources`:
 * hipBucketSources), so `kpack run|bench --backend hip` needs no template engine.
 */
import { type HipFamily, hipDefaults, hipFamily, hipInstances } from '../../generator/hip/families';
import type { AttentionShape, KvType, MatmulShape, WeightType } from '../../generator/ops';
import type { Params, TemplateInstance } from '../../generator/schema';
import type { HipContext, HipDeviceInfo } from '../../native/hip/api';
import { matrixUnsupported } from '../../generator/hip/arch';
import { randomTensorBytes } from '../bench-inputs';
import { renderRuntimeSources } from '../../generator/hip/sources';
import { type Range, rangeContains } from '../pack/format';
import type { HipTunedEntry } from '../pack/format';
import { relativeError } from '../reference/matmul';
import { mulberry32, seedFor } from '../search/index';
import type { AttentionWorkload, MatmulWorkload, Workload } from '../workloads';

/** The workloads with HIP ports (the fused ffn has none). */
type HipWorkload = MatmulWorkload | AttentionWorkload;
import { type HipCheckedProblem, type HipHostProblem, hipAttentionProblem, hipMatmulProblem, randomF32, uploadHipSets } from './problems';
import { type HipLaunchPlan, HipModuleCache, type LoadedHipVariant, enqueueHipPlan, hipCountersAtZero, hipDeviceSpace, hipLaunchPlan, hipRotationSets, heatHip, timeHipVariant } from './run';

/** Weight rows, columns and query rows of the reduced validation shapes (module doc). */
export const HIP_VALIDATE_ROWS = 96;
export const HIP_VALIDATE_COLS = 16;
export const HIP_VALIDATE_QUERIES = 8;
/** Candidates validated per workload, fastest first. */
const VALIDATE_TOP = 3;

export interface HipAutotuneOptions {
  ctx: HipContext;
  workloads: Workload[];
  /** Wall-clock budget for all workloads, ms (shared evenly among those not yet tuned). */
  budgetMs: number;
  seed?: number;
  /** Per-variant timing cap, ms (default 1000). */
  maxTimeMs?: number;
  /** Heat-up and re-time the finalists of each workload (default true; module doc). */
  heat?: boolean;
  log?: (msg: string) => void;
}

/**
 * The HIP families that run workload w, with the instance of its type: matmul.vec for N <= 8, else
 * matmul.coopmat (matrix cores; only where `device` is given and has a matrix instruction at its warp
 * size, generator/hip/arch.ts matrixUnsupported), then matmul.tile; attention.vec for queries <= 8, else
 * attention.tile. `pruned` receives "family: reason" for each family left out by the device check.
 */
export function hipCandidatesFamilies(w: HipWorkload, device?: Pick<HipDeviceInfo, 'arch' | 'warpSize'>, pruned?: string[]): Array<{ hf: HipFamily; inst: TemplateInstance }> {
  const ids = w.op === 'matmul' ? (w.shape.N <= 8 ? ['matmul.vec', 'matmul.tile'] : ['matmul.coopmat', 'matmul.tile']) : w.shape.queries <= 8 ? ['attention.vec'] : ['attention.tile'];
  const out: Array<{ hf: HipFamily; inst: TemplateInstance }> = [];
  for (const id of ids) {
    const hf = hipFamily(id);
    const inst = hipInstances(hf).find((i) => i.key === w.instanceKey);
    if (!inst || !hf.family.supports(w.shape, inst)) continue;
    if (hf.matrix) {
      const why = device ? matrixUnsupported(device.arch, device.warpSize) : 'no device given';
      if (why) {
        pruned?.push(`${id}: ${why}`);
        continue;
      }
    }
    out.push({ hf, inst });
  }
  return out;
}

/** The reduced validation shape of a workload shape (module doc). */
export function hipValidationShape(w: HipWorkload): MatmulShape | AttentionShape {
  if (w.op === 'matmul') return { M: Math.min(w.shape.M, HIP_VALIDATE_ROWS), N: Math.min(w.shape.N, HIP_VALIDATE_COLS), K: w.shape.K };
  const s = w.shape;
  const queries = Math.min(s.queries, HIP_VALIDATE_QUERIES);
  return { ...s, queries, queryPos0: s.queryPos0 + s.queries - queries };
}

const words = (bytes: Uint8Array): Uint32Array => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);

/** Random timing inputs of a workload (random valid blocks, as the Vulkan tuner's). */
function timingProblem(w: HipWorkload, rng: () => number): HipHostProblem {
  if (w.op === 'matmul') {
    const s = w.shape;
    return { inputs: { A: words(randomTensorBytes(w.instanceKey as WeightType, s.M * s.K, rng)), B: randomF32(s.N * s.K, rng) }, output: { name: 'D', elems: s.N * s.M } };
  }
  const s = w.shape;
  const kv = (): Uint32Array => words(randomTensorBytes(w.instanceKey as WeightType, s.kvHeads * s.kvStride * s.D, rng));
  return { inputs: { Q: randomF32(s.queries * s.heads * s.D, rng), K: kv(), V: kv() }, output: { name: 'O', elems: s.queries * s.heads * s.D } };
}

/** A validation problem: the reduced shape's inputs with their float64 reference and the error bound. */
function validationProblem(w: HipWorkload, rng: () => number): HipCheckedProblem {
  const shape = hipValidationShape(w);
  return w.op === 'matmul' ? hipMatmulProblem(w.instanceKey as WeightType, shape as MatmulShape, rng) : hipAttentionProblem(w.instanceKey as KvType, shape as AttentionShape, rng);
}

const same = (a: Params, b: Params): boolean => Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);
/** The entries a variant must be built with to run `launch` (none to name for families without dispatch parameters). */
const dispatchOf = (hf: HipFamily, launch: HipLaunchPlan): Params[] | undefined => {
  if (!Object.keys(hf.dispatch).length) return undefined;
  const byKey = new Map(launch.steps.map((st) => [JSON.stringify(st.point), st.point]));
  return [...byKey.values()];
};
const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n').find((l) => l.trim()) ?? String(e);

/** A timed candidate. */
interface Timed {
  hf: HipFamily;
  inst: TemplateInstance;
  params: Params;
  loaded: LoadedHipVariant;
  medianNs: number;
  isDefault: boolean;
}

/**
 * Tune the workloads through the HIP back-end (module doc).
 * @returns one entry per bucket whose first workload had a validated variant, in workload order.
 * @throws Error when a kernel fault leaves the HIP context unusable (later calls would fail too).
 */
export function autotuneHip(opts: HipAutotuneOptions): HipTunedEntry[] {
  const { ctx } = opts;
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 1;
  const t0 = performance.now();
  const dev = ctx.device;
  const cache = new HipModuleCache(ctx);
  const out: HipTunedEntry[] = [];
  const spaces = new Map<string, Params[]>();
  const seen = new Set<string>();
  const workloads = opts.workloads.filter((w): w is HipWorkload => (w.op === 'matmul' || w.op === 'attention') && !seen.has(w.bucket) && !!seen.add(w.bucket));
  try {
    workloads.forEach((w, wi) => {
      const pruned: string[] = [];
      const fams = hipCandidatesFamilies(w, dev, pruned);
      for (const p of pruned) log(`hip: ${w.label}: ${p} (pruned)`);
      if (!fams.length) {
        log(`hip: ${w.label}: no HIP family runs it`);
        return;
      }
      const deadline = performance.now() + Math.max(0, opts.budgetMs - (performance.now() - t0)) / (workloads.length - wi);
      const rng = mulberry32(seedFor(w.id, seed));
      const host = timingProblem(w, rng);
      // the order of each family: defaults, then a seeded shuffle of its pruned space; scratch sized for all
      const order = fams.map(({ hf, inst }) => {
        const def = hipDefaults(hf, dev.warpSize);
        const sk = `${hf.family.id}/${inst.key}`;
        if (!spaces.has(sk)) spaces.set(sk, hipDeviceSpace(hf, inst, dev)); // about 1 s for matmul.tile
        const rest = spaces.get(sk)!.filter((p) => !same(p, def));
        for (let i = rest.length - 1; i > 0; i--) {
          const j = Math.floor(rng() * (i + 1));
          [rest[i], rest[j]] = [rest[j], rest[i]];
        }
        return { hf, inst, points: [def, ...rest] };
      });
      let scratch = 16;
      for (const { hf, inst, points } of order) {
        for (const params of points.slice(0, 256)) {
          const lp = hipLaunchPlan({ hf, inst, params }, w.shape, dev.warpSize);
          if (!('rejected' in lp)) scratch = Math.max(scratch, lp.plan.scratchBytes);
        }
      }
      const inputBytes = Object.values(host.inputs).reduce((n, a) => n + a.byteLength, 0);
      const bufs = uploadHipSets(ctx, host, hipRotationSets(inputBytes), scratch);
      const timed: Timed[] = [];
      try {
        order.forEach(({ hf, inst, points }, fi) => {
          const famDeadline = performance.now() + (deadline - performance.now()) / (order.length - fi);
          for (const [pi, params] of points.entries()) {
            if (pi > 0 && performance.now() > famDeadline) break;
            const lp = hipLaunchPlan({ hf, inst, params }, w.shape, dev.warpSize);
            if ('rejected' in lp) continue;
            if (lp.plan.scratchBytes > scratch) continue; // past the sampled scratch size: not timed
            let loaded: LoadedHipVariant;
            try {
              loaded = cache.load({ hf, inst, params, dispatch: dispatchOf(hf, lp) });
            } catch (e) {
              log(`hip: ${w.label}: ${hf.family.id} compile failed: ${firstLine(e)}`);
              continue;
            }
            try {
              // counters zeroed afresh: a broken candidate that left them non-zero must not skew the next one
              if (lp.plan.counterWords) ctx.fill(bufs.counters, 0);
              const t = timeHipVariant(ctx, loaded, w.shape, bufs.sets, { maxTimeMs: opts.maxTimeMs ?? 1000 });
              timed.push({ hf, inst, params, loaded, medianNs: t.medianNs, isDefault: pi === 0 });
            } catch (e) {
              log(`hip: ${w.label}: ${hf.family.id} launch failed: ${firstLine(e)}`);
              ctx.synchronize(); // throws (ending the run) when the fault is sticky
            }
          }
        });
        // the deciding timings: the fastest few and the defaults again, back to back after a heat-up, so they
        // compare at the speed the GPU has under sustained load (an H200's SM clock idles at 345 MHz)
        const finalists = [...timed].sort((a, b) => a.medianNs - b.medianNs).slice(0, VALIDATE_TOP + 1);
        for (const t of timed) if (t.isDefault && !finalists.includes(t)) finalists.push(t);
        if (finalists.length > 1 && opts.heat !== false) {
          ctx.fill(bufs.counters, 0);
          const h = heatHip(ctx, finalists[0].loaded, w.shape, bufs.sets);
          log(`hip: ${w.label}: heat-up ${h.ms.toFixed(0)} ms, window medians ${h.windowMediansNs.map((n) => (n / 1e3).toFixed(1)).join(' ')} us${h.stable ? '' : ' (not stable)'}`);
          for (const t of finalists) {
            ctx.fill(bufs.counters, 0);
            t.medianNs = timeHipVariant(ctx, t.loaded, w.shape, bufs.sets, { maxTimeMs: opts.maxTimeMs ?? 1000 }).medianNs;
          }
        }
      } finally {
        bufs.destroy();
      }
      const entry = pickValidated(ctx, cache, w, timed, mulberry32(seedFor(`${w.id}/validate`, seed)), log);
      if (entry) {
        out.push(entry);
        log(`hip: ${w.label}: ${entry.family} ${(entry.medianNs / 1e3).toFixed(2)} us (defaults ${entry.defaultMedianNs === null ? '-' : (entry.defaultMedianNs / 1e3).toFixed(2)} us), ${timed.length} timed, rel err ${entry.relError.toExponential(1)}`);
      } else {
        log(`hip: ${w.label}: nothing validated (${timed.length} timed)`);
      }
    });
  } finally {
    cache.destroy();
  }
  return out;
}

/** Validate the fastest timed candidates of w in order; the first that passes becomes the bucket's entry. */
function pickValidated(ctx: HipContext, cache: HipModuleCache, w: HipWorkload, timed: Timed[], rng: () => number, log: (m: string) => void): HipTunedEntry | null {
  if (!timed.length) return null;
  const vp = validationProblem(w, rng);
  const def = timed.filter((t) => t.isDefault).sort((a, b) => a.medianNs - b.medianNs)[0] ?? null;
  const ranked = [...timed].sort((a, b) => a.medianNs - b.medianNs).slice(0, VALIDATE_TOP);
  for (const c of ranked) {
    const lp = hipLaunchPlan(c.loaded.spec, vp.shape, c.loaded.wave);
    if ('rejected' in lp) continue;
    // the validation shape may need entries the timed module lacks: the variant built for its steps
    let loaded: LoadedHipVariant;
    try {
      loaded = cache.load({ ...c.loaded.spec, dispatch: dispatchOf(c.hf, lp) });
    } catch (e) {
      log(`hip: ${w.label}: ${c.hf.family.id} validation compile failed: ${firstLine(e)}`);
      continue;
    }
    const bufs = uploadHipSets(ctx, vp, 1, lp.plan.scratchBytes);
    let err: number;
    let countersLeft: boolean;
    try {
      const set = bufs.sets[0];
      ctx.fill(set[vp.output.name], 0x7fc00000);
      enqueueHipPlan(ctx, loaded.module, lp, set);
      ctx.synchronize();
      err = relativeError(new Float32Array(ctx.download(set[vp.output.name], 0, 4 * vp.output.elems)), vp.ref);
      countersLeft = !hipCountersAtZero(ctx, bufs.counters, lp.plan.counterWords ?? 0);
    } finally {
      bufs.destroy();
    }
    if (countersLeft) {
      log(`hip: ${w.label}: ${c.hf.family.id} rejected: counters not left at zero (DispatchPlan.counterWords)`);
      continue;
    }
    const bound = Math.max(vp.bound, c.hf.tolerance ?? 0);
    if (!(err < bound)) {
      log(`hip: ${w.label}: ${c.hf.family.id} rejected: rel err ${err} >= ${bound}`);
      continue;
    }
    return {
      op: w.op,
      bucket: w.bucket,
      instance: w.instanceKey,
      family: c.hf.family.id,
      params: { ...c.params },
      point: { ...(w.shape as unknown as Record<string, number | boolean>) },
      medianNs: c.medianNs,
      defaultMedianNs: def ? def.medianNs : null,
      relError: err,
      sources: hipBucketSources(w, c.hf, c.inst, c.params, c.loaded.wave),
    };
  }
  return null;
}

/**
 * The runtime sources of a winning variant for workload w's bucket (generator/hip/sources.ts
 * renderRuntimeSources at wavefront size `wave`): matmul.vec the NCOLS inside the bucket's N range,
 * attention the workload's head dim, other families every runtime point.
 * @throws Error from renderHip (a variant rejected for this wave).
 */
export function hipBucketSources(w: Workload, hf: HipFamily, inst: TemplateInstance, params: Params, wave: number): NonNullable<HipTunedEntry['sources']> {
  const n: Range | undefined = w.match.range.N;
  const keep = (d: Params): boolean => (d.NCOLS === undefined || rangeContains(n, d.NCOLS)) && (d.D === undefined || w.op !== 'attention' || d.D === w.shape.D);
  return renderRuntimeSources({ hf, inst, params }, wave, keep);
}
