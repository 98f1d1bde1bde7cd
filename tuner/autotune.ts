/**
 * The tuner: for every workload, every family supporting it and every pruned variant, validate then
 * time (search strategy per workload, drift-guarded by an anchor, journaled); then per bucket pick the
 * variant that is no slower than the default at every point of the bucket and fastest in sum.
 *
 * Per workload: candidates = union over families (familiesForOp + supports + usable instance + SPIR-V
 * available) of enumerateVariants(...).kept, with parameters that mirror a shape field (e.g. `D` of
 * attention) pinned to the shape before pruning. Every family's default variant is timed at full effort first; the
 * baseline ("the default") is the variant the runtime launches without a tuned pack (the family
 * tuner/default-pack.ts routes the batch to, with its defaults), else the first family default that
 * validates. The budget is the variant search's: each workload's search gets an even share of what the searches
 * before it left (budget minus their search time, over the workloads not yet tuned), so the fixed costs around the
 * searches (defaults, seeds, validation, heat-ups, bucket decisions), which come on top, cannot starve the last
 * workloads (2026-12-07d: with the share taken from the wall clock, every workload of a 100 s llama-3.2-1b tune
 * from the output head on, the ffn and all attention and attention_o workloads among them, started past 114 s and
 * got no search, only defaults and seeds).
 * Seeds (AutotuneOptions.seeds, e.g. the entries of a pack tuned earlier on this device kind) that name a
 * candidate of the workload (same op, instance, family and, over the family's defaults, parameters; with every
 * value of a tunable the seed does not set, within 8 variants: seedVariants) are timed right after the defaults, before any search: a short budget then starts from known winners. So
 * are the best variant per family of the last workloads of the same op and instance (CARRY_MAX of them):
 * the decode GEMVs of one model share what makes a variant fast, and each then starts from the others'.
 * Decode attention is also seeded with split counts sized from the device's multiprocessor count
 * (attentionSplitSeeds).
 * Per bucket: the best `crossTop` candidates of each point (ranked by the median at the highest effort
 * each reached, so a search cut short by the budget still contributes) plus every family default are
 * timed at every point of the bucket at full effort, then the winner is chosen by the rule above; on GPUs
 * those deciding timings are taken afresh, back to back, after a heat-up (timing.ts heatUp), so every
 * finalist is timed at the speed the GPU has under sustained load, as in a running model.
 * The fused decode feed-forward (op ffn) is tuned like any op, seeded with the loop parameters of the same
 * run's gate|up GEMV winner and with high-occupancy points (ffnSeeds); a device no ffn family runs on skips it; at the end its entries
 * that do not beat the sum of the tuned gate|up and down GEMV medians are dropped (slowerFusions), so the
 * runtime keeps the two GEMVs there. Likewise attention + the O projection (op attention_o): its entries that do
 * not beat the tuned attention plus the O GEMV (M = dim, K = heads * D) at every point are dropped.
 */
import { SingleBar } from 'cli-progress';
import { deviceLimits } from '../generator/device-limits';
import { familiesForOp } from '../generator/families';
import { type LaunchableVariant, PipelineCache } from '../generator/launch';
import { loadManifest, readSpirv } from '../generator/manifest';
import { enumerateVariants, instanceUnsupported } from '../generator/prune';
import type { KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { entryAbi, variantKey, variantSupports } from '../generator/schema';
import type { Context, DeviceInfo } from '../native/vulkan/api';
import { Anchor, type AnchorOptions } from './anchor';
import { Journal, hashConfig } from './journal';
import { DEFAULT_ROUTES } from './default-pack';
import { type EntryStat, type PackEntry, rangeContains } from './pack/format';
import { fingerprintOf } from './pack/fingerprint';
import { type Problem, makeProblem, trustedVariantFor } from './problems';
import { type ReportRow } from './report';
import { type Copier, type PeakFlops, type Roofline, copyKernelCopiers, measureRoofline, rooflineNs } from './roofline';
import { type SearchStrategy, mulberry32, pickStrategy, seedFor } from './search/index';
import type { Summary } from './stats';
import { type HeatOptions, type HeatResult, type TimingOptions, defaultHeatMaxMs, heatUp, rotationSets, timeVariant } from './timing';
import { validateVariant } from './validate';
import { DECODE_MAX_QUERIES, type Workload } from './workloads';

/** Where the SPIR-V of each family instance comes from. */
export interface KernelSource {
  spirvFor(familyId: string, instanceKey: string): { spirv: Uint8Array; sha256: string } | null;
  /** Toolchain description (journal header, pack). */
  toolchain: unknown;
}

/** KernelSource over a generated directory (generator/manifest.ts: manifest.json + spirv/<sha>.spv). */
export function kernelSourceFromDir(dir: string): KernelSource {
  const m = loadManifest(dir);
  const cache = new Map<string, Uint8Array>();
  return {
    toolchain: m.toolchain,
    spirvFor(familyId, instanceKey) {
      const inst = m.families.find((f) => f.id === familyId)?.instances.find((i) => i.key === instanceKey);
      if (!inst) return null;
      if (!cache.has(inst.spirv)) cache.set(inst.spirv, readSpirv(dir, inst.spirv));
      return { spirv: cache.get(inst.spirv)!, sha256: inst.spirv };
    },
  };
}

export interface AutotuneProgress {
  workloadIndex: number;
  workloads: number;
  label: string;
  evaluations: number;
  elapsedMs: number;
  /** Estimated ms left: the search budget left plus the mean fixed cost per workload so far times the workloads left. */
  etaMs: number;
}

export interface AutotuneOptions {
  ctx: Context;
  /** Default ctx.device. */
  device?: DeviceInfo;
  workloads: Workload[];
  /** Variant-search budget, ms, shared among the workloads (module doc); defaults, seeds, validation and bucket decisions come on top. */
  budgetMs: number;
  /** JSONL journal (resume); none when omitted. */
  journalPath?: string;
  kernels: KernelSource;
  /** Families to consider (default: familiesForOp of the registry). */
  families?: (op: string) => KernelFamily<any>[];
  onProgress?: (p: AutotuneProgress) => void;
  /** Draw a cli-progress bar on stderr (default: when stderr is a TTY). */
  progressBar?: boolean;
  timing?: TimingOptions;
  /** Heat-up before each bucket's deciding timings (timing.ts heatUp; default on GPUs, maxMs 0 = off). */
  heat?: HeatOptions;
  anchor?: AnchorOptions;
  /** FLOP peak override for the roofline (default: table by device name). */
  peak?: PeakFlops;
  /** Precomputed roofline (skips the bandwidth measurement). */
  roofline?: Roofline;
  strategy?: (candidateCount: number) => SearchStrategy;
  /** Candidates per point re-timed across the bucket (default 3). */
  crossTop?: number;
  /**
   * Variants timed first, right after the defaults, on every workload where they are candidates (module
   * doc); typically a shipped or earlier pack's entries for this device (bin: --seed-pack). Unknown
   * families and variants outside a workload's pruned space are ignored.
   */
  seeds?: Array<Pick<PackEntry, 'op' | 'family' | 'instance' | 'params'>>;
  seed?: number;
  log?: (msg: string) => void;
}

/** One bucket's winner: exactly a pack entry (tuner/pack/format PackEntry, schema-valid as is). */
export type TunedEntry = PackEntry;

export interface AutotuneResult {
  /** One per bucket with a valid winner, for writePack/createPack. */
  entries: TunedEntry[];
  /** Per bucket: sum of default medians / sum of winner medians over its points. */
  speedups: Record<string, number>;
  rows: ReportRow[];
  roofline: Roofline;
  /** SPIR-V of every entry, by sha256 (for the pack's blobs). */
  blobs: Map<string, Uint8Array>;
  durationMs: number;
  evaluations: number;
  resumedRecords: number;
  /** The fusion decisions (slowerFusions' lines: each fused entry kept or dropped against the kernels it replaces, with both times). */
  fusionNotes: string[];
}

interface Candidate extends LaunchableVariant<any> {
  key: string;
  sha256: string;
  isDefault: boolean;
}

interface Point {
  w: Workload;
  problem: Problem<any>;
  anchor: Anchor<Summary>;
  /** Validate (once) then time at `effort`; null when invalid. */
  measure(c: Candidate, effort: number): Promise<Summary | null>;
  /** Run c until the GPU's speed is stable (timing.ts heatUp); returns the window medians, ns. */
  heat(c: Candidate): HeatResult;
  /** Time a validated candidate afresh at full effort; recorded (journal, anchor results) as its effort-1 result. */
  retime(c: Candidate): Summary;
  baseline: Candidate | null;
}


/** The family the default pack routes this workload to (tuner/default-pack DEFAULT_ROUTES), if any. */
function routedFamily(w: Workload): string | undefined {
  const routing = DEFAULT_ROUTES[w.op];
  const batch = 'queries' in w.shape ? w.shape.queries : w.shape.N;
  return routing?.routes.find(([, r]) => rangeContains(r, batch))?.[0];
}

/** Pin parameters named like a shape field (e.g. attention `D`) to the shape's value. */
function pinToShape(family: KernelFamily<any>, p: Params, shape: object): Params {
  const q = { ...p };
  for (const spec of family.params) if (spec.name in shape) q[spec.name] = (shape as Record<string, number>)[spec.name];
  return q;
}

/**
 * The family with every parameter named like a shape field restricted to the shape's value, so pruning
 * sees the real value (a variant too big at the schema's placeholder D=128 may fit D=64, and one that fits
 * D=128 may not fit D=256).
 */
function pinnedFamily(family: KernelFamily<any>, shape: object): KernelFamily<any> {
  const sh = shape as Record<string, number>;
  if (!family.params.some((s) => s.name in sh)) return family;
  return { ...family, params: family.params.map((s) => (s.name in sh ? { ...s, values: [sh[s.name]] } : s)) };
}

/** The copy family's variants the device accepts, as Copiers for the roofline's bandwidth (none without its SPIR-V). */
function copyKernels(opts: AutotuneOptions, pipelines: PipelineCache): Copier[] {
  const family = familiesForOp('copy').find((f) => f.id === 'copy');
  const instance = family?.instances[0];
  const src = family && instance && opts.kernels.spirvFor(family.id, instance.key);
  if (!family || !instance || !src) return [];
  return copyKernelCopiers({ family, instance, spirv: src.spirv, params: family.defaults }, deviceLimits(opts.device ?? opts.ctx.device), pipelines);
}

/** The candidates of a workload across families (defaults first per family, deduplicated). */
function candidatesFor(w: Workload, opts: AutotuneOptions, log: (m: string) => void): Candidate[] {
  const limits = deviceLimits(opts.device ?? opts.ctx.device);
  const out = new Map<string, Candidate>();
  for (const family of (opts.families ?? familiesForOp)(w.op)) {
    const instance = family.instances.find((i: TemplateInstance) => i.key === w.instanceKey);
    if (!instance || !family.supports(w.shape, instance)) continue;
    const why = instanceUnsupported(instance, limits);
    const src = opts.kernels.spirvFor(family.id, instance.key);
    if (why || !src) {
      log(`${w.label}: skipping ${family.id}/${instance.key}: ${why ?? 'no SPIR-V in the kernel manifest'}`);
      continue;
    }
    const fused = w.op === 'matmul' && w.fuses ? { ...w.shape, epilogue: w.fuses } : null;
    const def = pinToShape(family, family.defaults, w.shape);
    const pts = [def, ...enumerateVariants(pinnedFamily(family, w.shape), instance, limits).kept];
    for (const params of pts) {
      if (family.reject(params, instance, limits) !== null && params !== def) continue;
      if (!variantSupports(family, w.shape, params, instance)) continue;
      if (fused && family.ropeSince !== undefined && !variantSupports(family, fused, params, instance)) continue;
      const key = variantKey(family, instance.key, params);
      if (!out.has(key)) out.set(key, { family, instance, params, spirv: src.spirv, sha256: src.sha256, key, isDefault: params === def });
    }
  }
  return [...out.values()];
}

/** Variants carried from tuned workloads to the next ones of the same op and instance (module doc). */
const CARRY_MAX = 6;

/** Most variants one seed expands to (seedVariants). */
const SEED_EXPANSION_MAX = 8;

/**
 * The variants a seed's parameters name: the family's defaults overlaid with them, and, for each tunable the
 * seed does not set (one added to the family after its pack was written, e.g. attention.vec MERGE), every
 * value of it (the Cartesian product, as long as it stays within SEED_EXPANSION_MAX variants), so a warm start
 * from an older pack also times its winners with the new options. Parameters with one value (set by plan())
 * are not expanded.
 */
export function seedVariants(family: Pick<KernelFamily<any>, 'params' | 'defaults'>, params: Params): Params[] {
  let out: Params[] = [{ ...family.defaults, ...params }];
  for (const p of family.params) {
    if (p.name in params || p.values.length < 2 || out.length * p.values.length > SEED_EXPANSION_MAX) continue;
    out = out.flatMap((v) => p.values.map((x) => ({ ...v, [p.name]: x })));
  }
  return out;
}

/** The candidates of workload w named by `seeds` (module doc; seedVariants), deduplicated, in seed order. */
function seededCandidates(w: Workload, candidates: Candidate[], seeds: AutotuneOptions['seeds']): Candidate[] {
  const byKey = new Map(candidates.map((c) => [c.key, c]));
  const out = new Map<string, Candidate>();
  for (const e of seeds ?? []) {
    if (e.op !== w.op || e.instance !== w.instanceKey) continue;
    const family = candidates.find((c) => c.family.id === e.family)?.family;
    if (!family) continue;
    for (const params of seedVariants(family, e.params)) {
      const c = byKey.get(variantKey(family, e.instance, pinToShape(family, params, w.shape)));
      if (c && !c.isDefault) out.set(c.key, c);
    }
  }
  return [...out.values()];
}

/** Host-side phases (problem set-up, one validation) slower than this are logged, so a stall has a name. */
const SLOW_PHASE_MS = 2000;

/**
 * Tune every workload; see the module doc for the rules.
 * @throws JournalMismatchError when journalPath holds another device's/config's journal;
 *   Error when a workload has no usable family at all.
 */
export async function autotune(opts: AutotuneOptions): Promise<AutotuneResult> {
  const t0 = performance.now();
  /** Time spent in the workloads' variant searches so far, ms (what the budget bounds: module doc). */
  let searchSpentMs = 0;
  const log = opts.log ?? (() => {});
  const { ctx } = opts;
  const device = opts.device ?? ctx.device;
  const cache = new PipelineCache(ctx);
  const roofline = opts.roofline ?? measureRoofline(ctx, opts.peak, copyKernels(opts, cache));
  const seed = opts.seed ?? 1;
  const journal = opts.journalPath
    ? new Journal(opts.journalPath, {
        device: fingerprintOf(device),
        toolchain: opts.kernels.toolchain,
        config: hashConfig({ workloads: opts.workloads.map((w) => w.id), timing: opts.timing ?? {}, seed }),
      })
    : null;
  const crossTop = opts.crossTop ?? 3;
  const bar = (opts.progressBar ?? process.stderr.isTTY)
    ? new SingleBar({ format: 'tuning [{bar}] {percentage}% | workload {wl} | ETA {etaText} | {label}', stream: process.stderr, hideCursor: true })
    : null;
  bar?.start(opts.workloads.length, 0, { etaText: '?', label: '', wl: `0/${opts.workloads.length}` });
  let evaluations = 0;
  const entries: TunedEntry[] = [];
  const speedups: Record<string, number> = {};
  const rows: ReportRow[] = [];
  const blobs = new Map<string, Uint8Array>();
  const fusionNotes: string[] = [];
  const buckets = new Map<string, Workload[]>();
  for (const w of opts.workloads) buckets.set(w.bucket, [...(buckets.get(w.bucket) ?? []), w]);
  let done = 0;
  const carried: NonNullable<AutotuneOptions['seeds']> = [];

  const makePoint = (w: Workload, budgetMs: number): Point => {
    // one timing may use at most 1/20 of the workload's budget (50 ms .. 3 s) unless opts.timing says otherwise
    const maxTimeMs = opts.timing?.maxTimeMs ?? Math.min(3000, Math.max(50, budgetMs / 20));
    const rng = mulberry32(seedFor(w.id, seed));
    const trusted = trustedVariantFor((opts.families ?? familiesForOp)(w.op), w.shape, w.instanceKey);
    const tsrc = trusted && opts.kernels.spirvFor(trusted.family.id, trusted.instance.key);
    const gpuReference = trusted && tsrc
      ? { variant: { ...trusted, spirv: tsrc.spirv, params: pinToShape(trusted.family, trusted.family.defaults, w.shape) }, cache }
      : undefined;
    const tp = performance.now();
    const problem = makeProblem(ctx, w.op, w.shape, w.instanceKey, rng, { gpuReference });
    const setupMs = performance.now() - tp;
    if (setupMs > SLOW_PHASE_MS) log(`${w.label}: problem set up in ${(setupMs / 1e3).toFixed(1)} s`);
    const sets = rotationSets(problem.inputBytes);
    const valid = new Map<string, boolean>();
    const timeOnce = (c: Candidate, effort: number, record = true): Summary => {
      const plan = c.family.plan(w.shape, c.params, c.instance);
      const stats = timeVariant(ctx, cache, c, w.shape, problem.bufferSets(sets, plan.scratchBytes), { ...opts.timing, maxTimeMs, effort });
      evaluations++;
      if (record) journal?.append({ kind: 'time', workload: w.id, variant: c.key, effort, stats });
      return stats;
    };
    const point: Point = { w, problem, baseline: null, anchor: null!, measure: null!, heat: null!, retime: null! };
    point.heat = (c) => heatUp(ctx, cache, c, w.shape, problem.bufferSets(sets, c.family.plan(w.shape, c.params, c.instance).scratchBytes), opts.heat);
    point.retime = (c) => {
      const s = timeOnce(c, 1);
      point.anchor.results.set(`${c.key}@1`, s);
      return s;
    };
    point.anchor = new Anchor<Summary>(async () => timeOnce(point.baseline!, 0.5, false).medianNs, opts.anchor);
    point.measure = async (c, effort) => {
      if (!variantSupports(c.family, w.shape, c.params, c.instance)) return null;
      if (!valid.has(c.key)) {
        const j = journal?.getValidation(w.id, c.key);
        if (j) valid.set(c.key, j.ok);
        else {
          journal?.append({ kind: 'attempt', workload: w.id, variant: c.key });
          const tv = performance.now();
          const v = validateVariant(ctx, cache, c, problem);
          const validateMs = performance.now() - tv;
          if (validateMs > SLOW_PHASE_MS) log(`${w.label}: validating ${c.key} took ${(validateMs / 1e3).toFixed(1)} s`);
          if (!v.ok) log(`${w.label}: ${c.key} rejected: ${v.reason}`);
          journal?.append({ kind: 'validate', workload: w.id, variant: c.key, ok: v.ok, relError: v.relError, reason: v.reason });
          valid.set(c.key, v.ok);
        }
      }
      if (!valid.get(c.key)) return null;
      const rkey = `${c.key}@${effort}`;
      const replay = journal?.getTiming(w.id, c.key, effort);
      if (replay && !point.anchor.results.has(rkey)) point.anchor.results.set(rkey, replay);
      if (point.anchor.results.has(rkey)) return point.anchor.results.get(rkey)!;
      if (!point.baseline || c === point.baseline) {
        const s = timeOnce(c, effort);
        point.anchor.results.set(rkey, s);
        return s;
      }
      return point.anchor.measure(rkey, async () => timeOnce(c, effort));
    };
    return point;
  };

  const progress = (i: number, label: string, frac: number) => {
    const elapsedMs = performance.now() - t0;
    // the search budget left, plus the fixed costs (everything but the searches) at their mean per workload so far
    const left = opts.workloads.length - i - frac;
    const completed = Math.floor(i + frac);
    const etaMs = Math.max(0, opts.budgetMs - searchSpentMs) + (completed > 0 ? ((elapsedMs - searchSpentMs) / completed) * left : 0);
    bar?.update(i + frac, { etaText: `${(etaMs / 1000).toFixed(0)}s`, label, wl: `${Math.min(i + 1, opts.workloads.length)}/${opts.workloads.length}` });
    opts.onProgress?.({ workloadIndex: i, workloads: opts.workloads.length, label, evaluations, elapsedMs, etaMs });
  };

  try {
    for (const [bucket, ws] of buckets) {
      const points: Array<{ point: Point; candidates: Candidate[] }> = [];
      for (const w of ws) {
        const candidates = candidatesFor(w, opts, log);
        if (candidates.length === 0 && (w.op === 'ffn' || w.op === 'attention_o')) {
          // a fusion the device cannot run (no float atomics): the unfused kernels serve
          log(`${w.label}: no family runs it on this device; the decode step keeps the separate kernels`);
          done++;
          continue;
        }
        if (candidates.length === 0) throw new Error(`${w.label}: no kernel family can run it on this device`);
        const left = opts.workloads.length - done;
        const budgetMs = Math.max(0, (opts.budgetMs - searchSpentMs) / Math.max(1, left));
        const point = makePoint(w, budgetMs);
        points.push({ point, candidates });
        const tw = performance.now();
        // defaults first; the baseline is the default the runtime would launch without a tuned pack
        // (DEFAULT_ROUTES of the default pack), else the first family default that validates
        const routed = routedFamily(w);
        const defaults = candidates.filter((c) => c.isDefault).sort((a, b) => Number(b.family.id === routed) - Number(a.family.id === routed));
        for (const c of defaults) {
          const s = await point.measure(c, 1);
          if (s && !point.baseline) point.baseline = c;
        }
        if (!point.baseline) log(`${w.label}: no family default validates; no speed bar`);
        const fromGemv =
          w.op === 'ffn' ? ffnSeeds(entries, w)
          : w.op === 'attention_o' ? attentionOSeeds(entries, w)
          : w.op === 'attention' ? attentionSplitSeeds(w, [...carried, ...(opts.seeds ?? [])], deviceLimits(device).multiprocessorCount)
          : [];
        const seeded = seededCandidates(w, candidates, [...(opts.seeds ?? []), ...carried.filter((e) => e.op === w.op && e.instance === w.instanceKey), ...fromGemv]);
        if (seeded.length) log(`${w.label}: ${seeded.length} seeded variants first`);
        for (const c of seeded) await point.measure(c, 1);
        // Each family's space is searched on its own share of what is left of the budget (a family that
        // finishes early leaves its rest to the next), so a large space (GEMM tiles) cannot crowd out a
        // small one (GEMV) that wins the shape.
        const byParams = new Map<Params, Candidate>(candidates.map((c) => [c.params, c]));
        const rest = candidates.filter((c) => !c.isDefault);
        const ts = performance.now();
        const familyIds = [...new Set(rest.map((c) => c.family.id))].sort((a, b) => Number(b === routed) - Number(a === routed));
        for (const [fi, fid] of familyIds.entries()) {
          const mine = rest.filter((c) => c.family.id === fid).map((c) => c.params);
          const strategy = (opts.strategy ?? pickStrategy)(mine.length);
          await strategy.run(
            mine,
            async (p, effort) => {
              progress(done, w.label, Math.min(0.99, (performance.now() - tw) / Math.max(1, budgetMs)));
              return (await point.measure(byParams.get(p)!, effort))?.medianNs ?? null;
            },
            { ms: Math.max(0, budgetMs - (performance.now() - ts)) / (familyIds.length - fi), seed: seedFor(`${w.id}/${fid}`, seed) },
          );
        }
        searchSpentMs += performance.now() - ts;
        // carry this workload's best variant per family to the next workloads of its op and instance
        for (const c of bestPerFamily(point, candidates)) {
          const i = carried.findIndex((e) => e.op === w.op && e.instance === c.instance.key && e.family === c.family.id && variantKey(c.family, e.instance, { ...c.family.defaults, ...e.params }) === c.key);
          if (i >= 0) carried.splice(i, 1);
          carried.unshift({ op: w.op, family: c.family.id, instance: c.instance.key, params: c.params });
        }
        for (const key of new Set(carried.map((e) => `${e.op}/${e.instance}`))) {
          const mine = carried.filter((e) => `${e.op}/${e.instance}` === key);
          for (const e of mine.slice(CARRY_MAX)) carried.splice(carried.indexOf(e), 1);
        }
        done++;
        // workload done-1 complete (its index and label: a line per workload start stays one per workload)
        progress(done - 1, w.label, 1);
      }
      if (points.length === 0) continue;
      const result = await decideBucket(bucket, points, crossTop, (opts.heat?.maxMs ?? defaultHeatMaxMs(ctx.device)) > 0, log);
      if (result) {
        result.entry.stats.forEach((st, i) => {
          const r = roof(points[i].point.w, st.medianNs);
          Object.assign(st, { gflops: r.tflops * 1e3, gbps: r.gbps, rooflinePct: r.rooflinePct });
        });
        entries.push(result.entry);
        speedups[bucket] = result.speedup;
        rows.push(...result.rows.map((r) => ({ ...r, ...roof(r.w, r.medianNs) })).map(({ w: _w, ...r }) => r));
        blobs.set(result.entry.spirv, result.winner.spirv);
      }
      for (const { point } of points) point.problem.destroy();
    }
    for (const dropped of slowerFusions(entries, (m) => (fusionNotes.push(m), log(m)))) {
      entries.splice(entries.indexOf(dropped), 1);
      delete speedups[dropped.bucket];
      if (!entries.some((e) => e.spirv === dropped.spirv)) blobs.delete(dropped.spirv);
    }
  } finally {
    bar?.stop();
    cache.destroy();
  }
  return { entries, speedups, rows, roofline, blobs, durationMs: performance.now() - t0, evaluations, resumedRecords: journal?.resumed ?? 0, fusionNotes };

  function roof(w: Workload, ns: number) {
    const r = rooflineNs(roofline, w);
    return {
      tflops: w.flops / ns / 1e3,
      gbps: w.minBytes / ns,
      rooflinePct: (100 * r.ns) / ns,
      bound: r.bound,
    };
  }
}

/**
 * Seeds for an ffn workload (timed right after the defaults).
 * 1. High occupancy (2 points): ffn.vecq's largest WG with the smallest hidden chunk per workgroup (HB 1, RPT 1,
 *    KSPLIT 8), UNROLL 2, PREFETCH 1, DU 1 and 2. Each workgroup runs its phases (prologue, gate|up, down) one
 *    after another, so what overlaps them is other workgroups on the same multiprocessor: on the H100 this point
 *    took 25.95 us against the default's 28.48 (docs/runs/2026-12-07b/2-ffn-phases.txt), yet a 300-point random
 *    sample and a 290 s tune never drew it. Points a device rejects are not candidates, so they are not timed.
 * 2. From this run's tuned gate|up GEMV (M = 2 * hidden, K = dim, same N; 12 points, none when it is not tuned
 *    yet or its family has no such parameters): ffn.vecq's gate|up loop is matmul.vecq's, so the winner's WG,
 *    RPT, KSPLIT and UNROLL (each clamped to the nearest value ffn.vecq has) with every HB, DU in {1, 2} and
 *    PREFETCH in {0, 1}.
 */
export function ffnSeeds(entries: readonly TunedEntry[], w: Extract<Workload, { op: 'ffn' }>): NonNullable<AutotuneOptions['seeds']> {
  const { N, dim, hidden } = w.shape;
  const ffn = familiesForOp('ffn').find((f) => f.id === 'ffn.vecq');
  if (!ffn) return [];
  const wgMax = Math.max(...ffn.params.find((p) => p.name === 'WG')!.values);
  const occupancy = [1, 2].map((DU) => ({ op: 'ffn' as const, family: ffn.id, instance: w.instanceKey, params: { ...ffn.defaults, WG: wgMax, RPT: 1, KSPLIT: 8, UNROLL: 2, HB: 1, DU, PREFETCH: 1 } }));
  const gemv = entries.find((e) => e.op === 'matmul' && e.stats.some((st) => st.point.M === 2 * hidden && st.point.K === dim && st.point.N === N));
  if (!gemv || !['WG', 'RPT', 'KSPLIT'].every((k) => k in gemv.params)) return occupancy;
  const nearest = (name: string, v: number) => {
    const values = ffn.params.find((p) => p.name === name)!.values;
    return values.reduce((a, b) => (Math.abs(b - v) < Math.abs(a - v) ? b : a));
  };
  const base: Params = { ...ffn.defaults };
  for (const k of ['WG', 'RPT', 'KSPLIT', 'UNROLL']) if (k in gemv.params) base[k] = nearest(k, gemv.params[k]);
  const out: NonNullable<AutotuneOptions['seeds']> = [...occupancy];
  for (const HB of ffn.params.find((p) => p.name === 'HB')!.values)
    for (const DU of [1, 2])
      for (const PREFETCH of [0, 1]) out.push({ op: 'ffn', family: ffn.id, instance: w.instanceKey, params: { ...base, HB, DU, PREFETCH } });
  return out;
}

/**
 * Seeds for an attention_o workload (timed right after the defaults): attention_o.vec runs attention.vec's main
 * pass, so the same run's tuned attention.vec winner for the bucket holding this shape (same K/V type, D, heads,
 * kvHeads, queries and depth ranges), with MERGE 1, crossed with OSPLIT 1, 2, 4, 8 and OTPR 1, 2 (OU 2). None
 * when there is no such entry (or the winner is another family).
 */
export function attentionOSeeds(entries: readonly TunedEntry[], w: Extract<Workload, { op: 'attention_o' }>): NonNullable<AutotuneOptions['seeds']> {
  const fam = familiesForOp('attention_o').find((f) => f.id === 'attention_o.vec');
  if (!fam) return [];
  const kv = w.instanceKey.split('.')[1];
  const s = w.shape;
  const att = entries.find((e) =>
    e.op === 'attention' && e.family === 'attention.vec' && e.instance === kv && e.match.shape?.D === s.D && e.match.shape?.heads === s.heads &&
    e.match.shape?.kvHeads === s.kvHeads && rangeContains(e.match.range.queries ?? [1, null], s.queries) && rangeContains(e.match.range.depth ?? [0, null], s.queryPos0));
  if (!att) return [];
  const out: NonNullable<AutotuneOptions['seeds']> = [];
  for (const OSPLIT of [1, 2, 4, 8]) for (const OTPR of [1, 2]) out.push({ op: 'attention_o', family: fam.id, instance: w.instanceKey, params: { ...fam.defaults, ...att.params, MERGE: 1, OSPLIT, OTPR, OU: 2 } });
  return out;
}

/**
 * Split-KV seeds for a decode attention workload (queries <= DECODE_MAX_QUERIES), sized from the device's
 * multiprocessor count: for each attention.vec base among `bases` (at most 2: this run's carried winners and the
 * warm-start seeds of the op and instance, in that order; the family defaults when there are none), the KV_CHUNK
 * whose first dispatch (attention.vec plan(): row groups x head groups x splits at this workload's KV length) comes
 * nearest, by log ratio, to 1, 2 and 4 workgroups per multiprocessor, each with MERGE 0 and 1 (at most 12 seeds;
 * the search only samples the space, and a bucket's winner keeps its KV_CHUNK across up to 8x in depth: in
 * 2026-12-08's tune KV_CHUNK 1024 won 1024-8191 for llama-3.2-1b, 4 row groups x 8 head groups x 5 splits = 160
 * workgroups at depth 4351 and x 8 splits = 256 at 8191, on the H100's 132 multiprocessors; whether 2 or 4 a
 * multiprocessor serve better there is what these seeds let the tuner measure). None without a reported
 * multiprocessor count (0), for prefill, or without the family.
 */
export function attentionSplitSeeds(w: Extract<Workload, { op: 'attention' }>, bases: NonNullable<AutotuneOptions['seeds']>, multiprocessors: number): NonNullable<AutotuneOptions['seeds']> {
  const fam = familiesForOp('attention').find((f) => f.id === 'attention.vec');
  if (!fam || !(multiprocessors > 0) || w.shape.queries > DECODE_MAX_QUERIES) return [];
  const chunks = fam.params.find((p) => p.name === 'KV_CHUNK')!.values;
  const mine = bases.filter((e) => e.op === 'attention' && e.family === fam.id && e.instance === w.instanceKey).slice(0, 2);
  const out: NonNullable<AutotuneOptions['seeds']> = [];
  for (const base of mine.length ? mine.map((e) => ({ ...fam.defaults, ...e.params })) : [{ ...fam.defaults }]) {
    const groups = (KV_CHUNK: number) => fam.plan(w.shape, { ...base, KV_CHUNK }, fam.instances[0]).steps[0].groups.reduce((a, b) => a * b, 1);
    for (const perSm of [1, 2, 4]) {
      const target = perSm * multiprocessors;
      const KV_CHUNK = chunks.reduce((a, b) => (Math.abs(Math.log(groups(b) / target)) < Math.abs(Math.log(groups(a) / target)) ? b : a));
      for (const MERGE of [0, 1]) out.push({ op: 'attention', family: fam.id, instance: w.instanceKey, params: { ...base, KV_CHUNK, MERGE } });
    }
  }
  return out;
}

/**
 * The ffn entries (the fused decode feed-forward) that do not beat the unfused pair they replace: at some
 * point of theirs the tuned gate|up (M = 2 * hidden, K = dim) and down (M = dim, K = hidden) GEMV medians of
 * the same run and batch sum to less than the ffn median. Each isolated time includes its dispatch, so the
 * sum is the pair's cost before the barrier between them: the comparison leans towards the unfused pair.
 * Entries without both GEMVs in `entries` are kept (nothing to compare), with a log line.
 */
export function slowerFusions(entries: readonly TunedEntry[], log: (m: string) => void): TunedEntry[] {
  const median = (M: number, K: number, N: number): number | null => {
    for (const e of entries) {
      if (e.op !== 'matmul') continue;
      const st = e.stats.find((x) => x.point.M === M && x.point.K === K && x.point.N === N);
      if (st) return st.medianNs;
    }
    return null;
  };
  const out: TunedEntry[] = [];
  for (const e of entries) {
    if (e.op !== 'ffn') continue;
    for (const st of e.stats) {
      const { N, dim, hidden } = st.point as { N: number; dim: number; hidden: number };
      const gu = median(2 * hidden, dim, N), down = median(dim, hidden, N);
      if (gu === null || down === null) {
        log(`${e.bucket}: no tuned gate|up and down GEMVs at N = ${N} to compare with; kept`);
        continue;
      }
      const us = (ns: number) => (ns / 1e3).toFixed(2);
      if (st.medianNs >= gu + down) {
        log(`${e.bucket}: ${e.family} ${us(st.medianNs)} us >= gate|up ${us(gu)} + down ${us(down)} us at N = ${N}: dropped, the GEMVs serve`);
        out.push(e);
        break;
      }
      log(`${e.bucket}: ${e.family} ${us(st.medianNs)} us < gate|up ${us(gu)} + down ${us(down)} us at N = ${N}: kept`);
    }
  }
  // attention_o against attention (same heads, D, queries and depth) + the O GEMV at N = queries
  const attention = (pt: Record<string, unknown>): number | null => {
    for (const e of entries) {
      if (e.op !== 'attention') continue;
      const st = e.stats.find((x) => (['D', 'heads', 'kvHeads', 'queries', 'queryPos0', 'kvLength'] as const).every((k) => x.point[k] === pt[k]));
      if (st) return st.medianNs;
    }
    return null;
  };
  for (const e of entries) {
    if (e.op !== 'attention_o') continue;
    for (const st of e.stats) {
      const pt = st.point as { D: number; heads: number; queries: number; queryPos0: number; dim: number };
      const att = attention(pt), o = median(pt.dim, pt.heads * pt.D, pt.queries);
      const where = `queries = ${pt.queries}, depth = ${pt.queryPos0}`;
      if (att === null || o === null) {
        log(`${e.bucket}: no tuned attention and O GEMV at ${where} to compare with; kept`);
        continue;
      }
      const us = (ns: number) => (ns / 1e3).toFixed(2);
      if (st.medianNs >= att + o) {
        log(`${e.bucket}: ${e.family} ${us(st.medianNs)} us >= attention ${us(att)} + O ${us(o)} us at ${where}: dropped, the two kernels serve`);
        out.push(e);
        break;
      }
      log(`${e.bucket}: ${e.family} ${us(st.medianNs)} us < attention ${us(att)} + O ${us(o)} us at ${where}: kept`);
    }
  }
  return out;
}

/**
 * Per family, the non-default candidate with the lowest median at this point, each ranked by its median
 * at the highest effort it reached (as decideBucket ranks).
 */
function bestPerFamily(point: Point, candidates: Candidate[]): Candidate[] {
  const byKey = new Map(candidates.map((c) => [c.key, c]));
  const reached = new Map<string, { effort: number; ns: number }>();
  for (const [k, s] of point.anchor.results) {
    const at = k.lastIndexOf('@');
    const key = k.slice(0, at);
    const effort = Number(k.slice(at + 1));
    const r = reached.get(key);
    if (!r || effort > r.effort) reached.set(key, { effort, ns: s.medianNs });
  }
  const best = new Map<string, { c: Candidate; ns: number }>();
  for (const [key, r] of reached) {
    const c = byKey.get(key);
    if (!c || c.isDefault) continue;
    const b = best.get(c.family.id);
    if (!b || r.ns < b.ns) best.set(c.family.id, { c, ns: r.ns });
  }
  return [...best.values()].map((b) => b.c);
}

/**
 * Cross-time the finalists at every point of the bucket and choose the winner: valid everywhere, no
 * slower than the baseline at any point, smallest sum of medians. With `heat`, the finalists valid at
 * every point are then timed again after a heat-up, and those timings decide. Null when nothing is valid.
 */
async function decideBucket(bucket: string, points: Array<{ point: Point; candidates: Candidate[] }>, crossTop: number, heat: boolean, log: (m: string) => void) {
  const finalists = new Map<string, Candidate>();
  for (const { point, candidates } of points) {
    // rank by the median at the highest effort each candidate reached (the search may have stopped early)
    const ranked: Array<{ c: Candidate; effort: number; ns: number }> = [];
    for (const c of candidates) {
      let best: { effort: number; ns: number } | null = null;
      for (const [k, s] of point.anchor.results) {
        const at = k.lastIndexOf('@');
        const effort = Number(k.slice(at + 1));
        if (k.slice(0, at) === c.key && (!best || effort > best.effort)) best = { effort, ns: s.medianNs };
      }
      if (best) ranked.push({ c, ...best });
    }
    ranked.sort((a, b) => a.ns - b.ns);
    for (const { c } of ranked.slice(0, crossTop)) finalists.set(c.key, c);
    for (const c of candidates) if (c.isDefault && point.anchor.results.has(`${c.key}@1`)) finalists.set(c.key, c);
  }
  // the deciding timings: every finalist at full effort, afresh and back to back after a heat-up, so all
  // run at the speed the GPU has under sustained load (timing.ts heatUp) whatever state the search left it in
  for (const { point } of points) {
    for (const c of finalists.values()) await point.measure(c, 1);
    await point.anchor.finish();
  }
  const valid = [...finalists.values()].filter((c) => points.every(({ point }) => point.anchor.results.has(`${c.key}@1`)));
  if (heat && valid.length) {
    const h = points[0].point.heat(points[0].point.baseline && valid.includes(points[0].point.baseline) ? points[0].point.baseline : valid[0]);
    if (h.windowMediansNs.length) log(`${bucket}: heat-up ${h.ms.toFixed(0)} ms, window medians ${h.windowMediansNs.map((n) => (n / 1e3).toFixed(1)).join(' ')} us${h.stable ? '' : ' (not stable)'}`);
    for (const { point } of points) for (const c of valid) point.retime(c);
  }
  const at = (p: Point, c: Candidate | null) => (c ? p.anchor.results.get(`${c.key}@1`) ?? null : null);
  let best: { c: Candidate; sum: number } | null = null;
  for (const c of finalists.values()) {
    let sum = 0;
    let ok = true;
    for (const { point } of points) {
      const s = at(point, c);
      const base = at(point, point.baseline);
      if (!s || (base && s.medianNs > base.medianNs)) ok = false;
      else sum += s.medianNs;
    }
    if (ok && (!best || sum < best.sum)) best = { c, sum };
  }
  if (!best) return null;
  const winner = best.c;
  let baseSum = 0;
  const stats: EntryStat[] = [];
  const rows: Array<Omit<ReportRow, 'tflops' | 'gbps' | 'rooflinePct' | 'bound'> & { w: Workload }> = [];
  for (const { point } of points) {
    const s = at(point, winner)!;
    const base = at(point, point.baseline) ?? s;
    baseSum += base.medianNs;
    stats.push({
      point: { ...(point.w.shape as unknown as Record<string, number>) },
      medianNs: s.medianNs,
      madNs: s.madNs,
      ciLowNs: s.ciLowNs,
      ciHighNs: s.ciHighNs,
      n: s.n,
      defaultMedianNs: base.medianNs,
      speedup: base.medianNs / s.medianNs,
    });
    rows.push({ w: point.w, op: point.w.op, label: point.w.label, bucket, winner: winner.key, medianNs: s.medianNs, defaultNs: base.medianNs, speedup: base.medianNs / s.medianNs });
  }
  const w0 = points[0].point.w;
  const entry: TunedEntry = {
    op: w0.op,
    bucket,
    match: structuredClone(w0.match),
    family: winner.family.id,
    abi: entryAbi(winner.family, winner.instance.key),
    instance: winner.instance.key,
    params: { ...winner.params },
    spirv: winner.sha256,
    stats,
  };
  return { entry, rows, winner, speedup: baseSum / best.sum };
}
