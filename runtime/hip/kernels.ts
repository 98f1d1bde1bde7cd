/**
 * The HIP runtime's kernels (runtime/model/llama-hip.ts): for an op call (the same KernelRequest as the
 * Vulkan graph's, runtime/kernels.ts) the HIP variant to launch, its launch plan (generator/hip/launch.ts
 * hipLaunchPlan) and its compiled entries.
 *
 * Choice, per call: the families that serve the op at the call's batch, in order (matmul: matmul.vec for
 * N <= 8, then matmul.tile; for N > 8 matmul.coopmat, from pack entries only (HipFamily.tunedOnly) and on
 * devices with a matrix instruction, then matmul.tile; attention: attention.vec for queries <= 8, then attention.tile; other ops their
 * one family); for each, first a HIP entry of the packs (manifest.hip.entries, tuned by `kpack autotune
 * --backend hip|all`) whose op, instance and bucket equal the call's (tuner/workloads.ts bucket keys, the
 * Vulkan selector's exact level), then the family's HIP defaults (hipDefaults) from the build's default
 * sources (runtime/hip/sources.ts). A candidate is taken only when hipLaunchPlan accepts the call's shape
 * and a stored source defines every entry its steps launch; a pack entry is also skipped when the pack's
 * HIP results were rendered for another wavefront size or carry no sources (older packs).
 *
 * Sources are compiled by the device's runtime compiler (NVRTC / hiprtc, HipContext.compile), once per
 * sha256 per context for the life of the process (the modules are freed with the context).
 */
import { matrixUnsupported } from '../../generator/hip/arch';
import { type HipFamily, hipDefaults, hipFamily, hipInstance } from '../../generator/hip/families';
import { type HipBufferBinding, type HipLaunchPlan, type HipSourceUnit, type HipVariantSpec, bindHipPlan, hipLaunchPlan } from '../../generator/hip/launch';
import type { OpShapes } from '../../generator/ops';
import type { GpuBuffer, HipContext, KernelFunction, Module } from '../../native/hip/api';
import type { HipTunedEntry, Pack } from '../../tuner/pack/format';
import { attentionBucket, matmulBucket } from '../../tuner/workloads';
import type { KernelRequest } from '../kernels';
import type { HipDefaultSources } from './sources';

/** Where a chosen variant came from: a pack's HIP entry of the call's bucket, or the HIP defaults. */
export type HipSelectionLevel = 'exact' | 'default';

/** A chosen HIP variant and where its sources come from. */
export interface ChosenHipKernel {
  spec: HipVariantSpec;
  level: HipSelectionLevel;
  /** The pack's name, or "HIP defaults". */
  packName: string;
  /** The source defining entry `name`, or null. */
  source(name: string): HipSourceUnit | null;
}

/** The op's families in the order they are tried at batch `batch` (module doc). */
export function hipRoute(op: string, batch: number): string[] {
  if (op === 'matmul') return batch <= 8 ? ['matmul.vec', 'matmul.tile'] : ['matmul.coopmat', 'matmul.tile'];
  if (op === 'attention') return batch <= 8 ? ['attention.vec', 'attention.tile'] : ['attention.tile'];
  return [op];
}

/** The bucket key of a call (tuner/workloads.ts), or null for ops the tuner does not tune. */
export function hipRequestBucket(req: KernelRequest<keyof OpShapes>): string | null {
  if (!req.shapeKey) return null;
  if (req.op === 'matmul') return matmulBucket(req.instance, { M: req.shapeKey.M, K: req.shapeKey.K, N: req.batch });
  if (req.op === 'attention') {
    const k = req.shapeKey;
    return attentionBucket(req.instance, { D: k.D, heads: k.heads, kvHeads: k.kvHeads, queries: req.batch, queryPos0: req.depth, kvLength: req.depth + req.batch, kvStride: 0, causal: true, scale: 1 });
  }
  return null;
}

/** A pack's HIP entry that the runtime cannot use, and why. */
export interface HipSkippedEntry {
  pack: string;
  bucket: string;
  reason: string;
}

/** The HIP entries of `packs` usable at wavefront size `wave`, and the skipped ones with the reason. */
export function usableHipEntries(packs: Pack[], wave: number): { usable: Array<{ pack: Pack; entry: HipTunedEntry }>; skipped: HipSkippedEntry[] } {
  const usable: Array<{ pack: Pack; entry: HipTunedEntry }> = [];
  const skipped: HipSkippedEntry[] = [];
  for (const pack of packs) {
    const h = pack.manifest.hip;
    if (!h) continue;
    for (const entry of h.entries) {
      if (!entry.sources?.length) skipped.push({ pack: pack.name, bucket: entry.bucket, reason: 'no HIP sources (tuned by an older kpack)' });
      else if (h.device.warpSize !== wave) skipped.push({ pack: pack.name, bucket: entry.bucket, reason: `rendered for wave ${h.device.warpSize}, this device runs wave ${wave}` });
      else usable.push({ pack, entry });
    }
  }
  return { usable, skipped };
}

/** A planned call: the launch and the compiled function of each step. */
interface Prepared {
  chosen: ChosenHipKernel;
  launch: HipLaunchPlan;
  fns: KernelFunction[];
}

const contextModules = new WeakMap<HipContext, Map<string, Module>>();
const MAX_PREPARED = 8192;

/** Kernels for one HIP context: chosen per call (module doc), compiled once per source, launched on the context's stream. */
export class HipKernelSet {
  readonly wave: number;
  /** Pack HIP entries that can serve calls, and those skipped (no sources, other wave). */
  readonly entries: Array<{ pack: Pack; entry: HipTunedEntry }>;
  readonly skipped: HipSkippedEntry[];
  /** How many launched op calls each selection level served. */
  readonly levelCounts: Record<string, number> = {};
  /** Sources compiled by this set, and their total compile + load time, ms. */
  compiles = 0;
  compileMs = 0;
  private readonly chosen = new Map<string, ChosenHipKernel>();
  /** Memo keys of `chosen` with the call shapes their kernel was checked to run. */
  private readonly verified = new Set<string>();
  private readonly prepared = new Map<string, Prepared>();
  private readonly fns = new Map<string, KernelFunction>();

  constructor(
    readonly ctx: HipContext,
    readonly packs: Pack[],
    readonly defaults: HipDefaultSources,
  ) {
    this.wave = ctx.device.warpSize;
    const { usable, skipped } = usableHipEntries(packs, this.wave);
    this.entries = usable;
    this.skipped = skipped;
  }

  /** Whether `c` can run `shape`: hipLaunchPlan accepts it and a source defines every step's entry. */
  private runs(c: ChosenHipKernel, shape: unknown): boolean {
    let lp: ReturnType<typeof hipLaunchPlan>;
    try {
      lp = hipLaunchPlan(c.spec, shape, this.wave);
    } catch {
      return false;
    }
    return !('rejected' in lp) && lp.steps.every((st) => c.source(st.entry) !== null);
  }

  /**
   * The variant for a call (memoized per op, instance, bucket or shape key, and batch).
   * @throws Error naming the op, instance and shape when no pack entry and no HIP default can run it.
   */
  choose<Op extends keyof OpShapes>(req: KernelRequest<Op>): ChosenHipKernel {
    const bucket = hipRequestBucket(req);
    const key = `${req.op}|${req.instance}|${bucket ?? JSON.stringify(req.shapeKey)}|${req.batch}`;
    const hit = this.chosen.get(key);
    if (hit) {
      const vk = `${key}|${JSON.stringify(req.shape)}`;
      if (this.verified.has(vk)) return hit;
      if (this.runs(hit, req.shape)) {
        if (this.verified.size >= MAX_PREPARED) this.verified.clear();
        this.verified.add(vk);
        return hit;
      }
    }
    const tried: string[] = [];
    for (const id of hipRoute(req.op, req.batch)) {
      let hf: HipFamily;
      try {
        hf = hipFamily(id);
        hipInstance(hf, req.instance);
      } catch (e) {
        tried.push((e as Error).message);
        continue;
      }
      const inst = hipInstance(hf, req.instance);
      const noMatrix = hf.matrix ? matrixUnsupported(this.ctx.device.arch ?? '', this.wave) : null;
      if (noMatrix) {
        tried.push(`${id}: ${noMatrix}`);
        continue;
      }
      const candidates: ChosenHipKernel[] = [];
      if (bucket) {
        for (const { pack, entry } of this.entries) {
          if (entry.op !== req.op || entry.instance !== req.instance || entry.bucket !== bucket || entry.family !== id) continue;
          const srcs = entry.sources!;
          candidates.push({ spec: { hf, inst, params: { ...hipDefaults(hf, this.wave), ...entry.params } }, level: 'exact', packName: pack.name, source: (n) => srcs.find((s) => s.entries.includes(n)) ?? null });
        }
      }
      const params = hipDefaults(hf, this.wave);
      if (!hf.tunedOnly) candidates.push({ spec: { hf, inst, params }, level: 'default', packName: 'HIP defaults', source: (n) => this.defaults.find(id, req.instance, this.wave, params, n) });
      const c = candidates.find((x) => this.runs(x, req.shape));
      if (c) {
        this.chosen.set(key, c);
        return c;
      }
      tried.push(hf.tunedOnly ? `${id}: ${candidates.length} pack entries cannot run it (tuned entries only)` : `${id}: ${candidates.length - 1} pack entries and the defaults cannot run it (rejected or no source built)`);
    }
    throw new Error(`no HIP kernel for ${req.op} (${req.instance}) ${JSON.stringify(req.shape)} at wave ${this.wave}: ${tried.join('; ')}`);
  }

  private module(src: HipSourceUnit, name: string): Module {
    let mods = contextModules.get(this.ctx);
    if (!mods) contextModules.set(this.ctx, (mods = new Map()));
    let m = mods.get(src.sha256);
    if (!m) {
      const t0 = performance.now();
      m = this.ctx.compile(src.text, { name });
      this.compileMs += performance.now() - t0;
      this.compiles++;
      mods.set(src.sha256, m);
    }
    return m;
  }

  /** The launch plan and compiled functions of a call (memoized per call shape; sources compiled on first use). */
  prepare<Op extends keyof OpShapes>(req: KernelRequest<Op>): { chosen: ChosenHipKernel; launch: HipLaunchPlan; fns: KernelFunction[] } {
    const key = `${req.op}|${req.instance}|${req.batch}|${req.depth}|${JSON.stringify(req.shapeKey)}|${JSON.stringify(req.shape)}`;
    let p = this.prepared.get(key);
    if (!p) {
      const chosen = this.choose(req);
      const launch = hipLaunchPlan(chosen.spec, req.shape, this.wave);
      if ('rejected' in launch) throw new Error(`${chosen.spec.hf.family.id}: ${launch.rejected}`); // choose() checked it
      const fns = launch.steps.map((st) => {
        const src = chosen.source(st.entry)!;
        const fk = `${src.sha256}|${st.entry}`;
        let fn = this.fns.get(fk);
        if (!fn) this.fns.set(fk, (fn = this.module(src, `${chosen.spec.hf.family.id}_${req.instance}.hip`).fn(st.entry)));
        return fn;
      });
      if (this.prepared.size >= MAX_PREPARED) this.prepared.clear();
      this.prepared.set(key, (p = { chosen, launch, fns }));
    }
    return p;
  }

  /** Scratch bytes a call's plan needs (0 for most ops). */
  scratchBytes<Op extends keyof OpShapes>(req: KernelRequest<Op>): number {
    return this.prepare(req).launch.plan.scratchBytes;
  }

  /**
   * Enqueue one op call on the context's stream with `buffers` bound (binding name -> buffer or buffer
   * at a byte offset); returns at once. A plan with counterWords (argmax / attention.vec MERGE 1) needs zeroed
   * "counters" (createHipCounters). @throws as choose(), the compiler (log in the message), bindHipPlan
   * (RangeError for missing scratch or counters), ctx.launch.
   */
  enqueue<Op extends keyof OpShapes>(req: KernelRequest<Op>, buffers: Readonly<Record<string, GpuBuffer | HipBufferBinding>>): void {
    const { chosen, launch, fns } = this.prepare(req);
    this.levelCounts[chosen.level] = (this.levelCounts[chosen.level] ?? 0) + 1;
    const args = bindHipPlan(launch, buffers);
    for (let i = 0; i < fns.length; i++) this.ctx.launch(fns[i], launch.steps[i].grid, launch.steps[i].block, args[i]);
  }

  /** Forget the memoized choices and plans; the compiled modules stay with the context (freed by ctx.destroy()). */
  destroy(): void {
    this.fns.clear();
    this.prepared.clear();
    this.chosen.clear();
    this.verified.clear();
  }
}
