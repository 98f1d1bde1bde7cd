/**
 * The runtime's view of kernels: for an op call (op, instance, shape, batch, depth) the variant to
 * launch, chosen from the loaded packs by KernelSelector, with its SPIR-V, and recorded through the
 * shared launcher. Pipelines are created once per distinct (SPIR-V, spec constants).
 */
import { familyById, families } from '../generator/families';
import { type LaunchableVariant, PipelineCache, recordVariant } from '../generator/launch';
import type { OpShapes } from '../generator/ops';
import { variantSupports } from '../generator/schema';
import type { Binding, Context, GpuBuffer, Sequence } from '../native/vulkan/api';
import type { Pack, PackEntry } from '../tuner/pack/format';
import { KernelSelector, type SelectionLevel } from './pack-select';
import type { OpProfiler } from './profile';

/** What a call needs to find its pack entry: the op's shape key and its batch/depth coordinates. */
export interface KernelRequest<Op extends keyof OpShapes> {
  op: Op;
  instance: string;
  shape: OpShapes[Op];
  /** Shape fields that identify the tuned shape (e.g. {M, K} for matmul); null for untuned ops. */
  shapeKey: Record<string, number> | null;
  /** N for matmul, queries for attention, 1 otherwise. */
  batch: number;
  /** KV depth for attention (kvLength - queries), 0 otherwise. */
  depth: number;
}

export interface ChosenKernel {
  variant: LaunchableVariant<any>;
  level: SelectionLevel;
  packName: string;
  /** The launch-contract version its pack entry was recorded under (PackEntry.abi; generator/schema.ts entryAbi). */
  abi: number;
  /** Its pack entry's inclusive depth range (PackEntry.match.range.depth; [0, null] when the entry has none: any depth). */
  depthRange: [number, number | null];
}

/**
 * Kernels for one context: picks each op call's variant from the packs (KernelSelector, fallback
 * levels exact -> shape -> op -> default), creates its pipeline once and records its dispatches.
 */
export class KernelSet {
  readonly selector: KernelSelector;
  readonly pipelines: PipelineCache;
  private readonly chosen = new Map<string, ChosenKernel>();
  /** How many recorded op calls were served at each fallback level (for `run`/`bench` to report). */
  readonly levelCounts: Record<string, number> = {};
  /** When set, every recorded op call is bracketed by GPU timestamps. */
  profiler: OpProfiler | null = null;

  constructor(
    readonly ctx: Context,
    readonly packs: Pack[],
  ) {
    this.selector = new KernelSelector(packs);
    this.pipelines = new PipelineCache(ctx);
  }

  /**
   * The variant for a request (memoized per op, instance, shape key and batch/depth).
   * @throws Error when no pack, the default included, has an entry for the op and instance.
   */
  choose<Op extends keyof OpShapes>(req: KernelRequest<Op>): ChosenKernel {
    let key = `${req.op}|${req.instance}|${req.batch}|${req.depth}|`;
    if (req.shapeKey) for (const k in req.shapeKey) key += `${k}=${req.shapeKey[k]},`;
    let hit = this.chosen.get(key);
    if (!hit) {
      // entries whose variant cannot run this call's shape (e.g. matmul.vecq BQ 0 past its shared-memory bound) are skipped
      const usable = (e: PackEntry): boolean => {
        const f = families.find((x) => x.id === e.family);
        const inst = f?.instances.find((i) => i.key === e.instance);
        return !f || !inst || variantSupports(f, req.shape, { ...f.defaults, ...e.params }, inst);
      };
      const sel = this.selector.select(req.op, req.instance, req.shapeKey, req.batch, req.depth, usable);
      if (!sel) throw new Error(`no kernel for ${req.op} (${req.instance}) in any loaded pack, the default pack included`);
      const family = familyById(sel.entry.family);
      const instance = family.instances.find((i) => i.key === sel.entry.instance);
      if (!instance) throw new Error(`pack entry for ${req.op} names instance ${sel.entry.instance}, which family ${family.id} lacks`);
      const spirv = sel.pack.blobs.get(sel.entry.spirv);
      if (!spirv) throw new Error(`pack entry for ${req.op} names SPIR-V ${sel.entry.spirv}, which the pack lacks`);
      // parameters added to a family after the pack was written take their defaults (which reproduce the old kernel)
      hit = { variant: { family, instance, spirv, params: { ...family.defaults, ...sel.entry.params } }, level: sel.level, packName: sel.pack.name, abi: sel.entry.abi ?? 1, depthRange: sel.entry.match.range.depth ?? [0, null] };
      this.chosen.set(key, hit);
    }
    return hit;
  }

  /** Choose and record one op call into `seq` (bracketed by timestamps when profiling). */
  record<Op extends keyof OpShapes>(seq: Sequence, req: KernelRequest<Op>, buffers: Record<string, GpuBuffer | Binding>): void {
    const { variant, level } = this.choose(req);
    this.levelCounts[level] = (this.levelCounts[level] ?? 0) + 1;
    if (this.profiler) {
      const s = req.shape as Partial<Record<'M' | 'N' | 'K', number>>;
      const shape = req.op === 'matmul' ? ` M=${s.M} K=${s.K} N=${s.N}` : '';
      this.profiler.begin(seq, req.op, `${req.op} ${variant.family.id}${shape}`);
    }
    const plan = recordVariant(seq, this.pipelines, variant, req.shape, buffers);
    this.profiler?.dispatched(plan.steps.length);
  }

  /** Scratch bytes a request's plan needs (0 for most ops). */
  scratchBytes<Op extends keyof OpShapes>(req: KernelRequest<Op>): number {
    const { variant } = this.choose(req);
    return variant.family.plan(req.shape, variant.params, variant.instance).scratchBytes;
  }

  destroy(): void {
    this.pipelines.destroy();
  }
}
