/**
 * Launching a variant from its schema: pipelines created from SPIR-V + the schema's spec constants,
 * dispatches recorded from the family's plan. Shared by the tuner (timing, validation) and the
 * runtime (inference); needs only the native API's types, no template engine or compiler.
 */
import { createHash } from 'node:crypto';
import type { Binding, Context, GpuBuffer, Pipeline, Sequence } from '../native/vulkan/api';
import { COUNTER_BYTES, type DispatchPlan, type KernelFamily, type Params, type TemplateInstance, specConstants } from './schema';

/** A variant ready to launch: family schema, compiled instance SPIR-V, parameter point. */
export interface LaunchableVariant<Shape = unknown> {
  family: KernelFamily<Shape>;
  instance: TemplateInstance;
  spirv: Uint8Array;
  params: Params;
}

/** Creates each distinct (SPIR-V, spec constants) pipeline once per context. */
export class PipelineCache {
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly spirvIds = new WeakMap<Uint8Array, string>();
  /** Per variant object: overrides key -> pipeline, so the hot path builds no spec-constant lists. */
  private readonly byVariant = new WeakMap<LaunchableVariant<any>, Map<string, Pipeline>>();
  constructor(private readonly ctx: Context) {}

  get(variant: LaunchableVariant<any>, overrides: Params = {}): Pipeline {
    let perVariant = this.byVariant.get(variant);
    if (!perVariant) this.byVariant.set(variant, (perVariant = new Map()));
    const overridesKey = overridesKeyOf(overrides);
    let pipeline = perVariant.get(overridesKey);
    if (!pipeline) {
      pipeline = this.create(variant, overrides);
      perVariant.set(overridesKey, pipeline);
    }
    return pipeline;
  }

  private create(variant: LaunchableVariant<any>, overrides: Params): Pipeline {
    let spirvId = this.spirvIds.get(variant.spirv);
    if (!spirvId) {
      spirvId = createHash('sha256').update(variant.spirv).digest('hex');
      this.spirvIds.set(variant.spirv, spirvId);
    }
    const specs = specConstants(variant.family, variant.params, overrides);
    const key = spirvId + ':' + specs.map((s) => `${s.id}=${s.value}`).join(',');
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = this.ctx.createPipeline({
        spirv: variant.spirv,
        specConstants: specs,
        pushConstantBytes: variant.family.pushConstantBytes,
        bindingCount: variant.family.bindings.length,
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }

  destroy(): void {
    for (const p of this.pipelines.values()) p.destroy();
    this.pipelines.clear();
  }
}

function overridesKeyOf(overrides: Params): string {
  let key = '';
  for (const name in overrides) key += `${name}=${overrides[name]},`;
  return key;
}

/**
 * A zeroed "counters" buffer for plans with DispatchPlan.counterWords (default size COUNTER_BYTES): the kernels
 * leave it zero, so one buffer serves every call recorded after another. The caller owns (destroys) it.
 * @throws Error from the native layer (allocation).
 */
export function createCounters(ctx: Context, bytes = COUNTER_BYTES): GpuBuffer {
  const b = ctx.createBuffer(bytes);
  ctx.upload(b, new Uint8Array(bytes));
  return b;
}

/** Whether the first `words` u32 of a counters buffer are zero (the contract of DispatchPlan.counterWords), read back from the device. */
export function countersAtZero(ctx: Context, counters: GpuBuffer, words: number): boolean {
  return new Uint32Array(ctx.download(counters, 0, 4 * words)).every((v) => v === 0);
}

/**
 * Record a variant's dispatch plan into `seq`, a barrier after each step.
 * `buffers` maps the family's binding names to buffers (or bindings with offsets); "scratch" must be
 * supplied when plan.scratchBytes > 0, "counters" (zeroed u32 words, left zero) when plan.counterWords > 0.
 * @returns the plan that was recorded.
 * @throws Error naming the missing binding; RangeError when "counters" is needed and missing or too small.
 */
export function recordVariant<Shape>(
  seq: Sequence,
  cache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  shape: Shape,
  buffers: Record<string, GpuBuffer | Binding>,
  plan: DispatchPlan = variant.family.plan(shape, variant.params, variant.instance),
): DispatchPlan {
  const { family } = variant;
  const names = family.bindings.map((b) => b.name);
  if (plan.counterWords) {
    const c = buffers.counters;
    const bytes = c ? ('buffer' in c ? c.buffer.size - (c.offset ?? 0) : c.size) : 0;
    if (bytes < 4 * plan.counterWords) {
      throw new RangeError(`${family.id}: the plan needs ${plan.counterWords} zeroed u32 counters on "counters", got ${c ? `${bytes} bytes` : 'no buffer'}`);
    }
  }
  for (const step of plan.steps) {
    const bindings: Binding[] = family.bindings.map((spec) => {
      const b = buffers[spec.name] ?? (spec.optional ? buffers[names[0]] : undefined);
      if (!b) throw new Error(`${family.id}: no buffer bound to "${spec.name}" (bindings: ${names.join(', ')})`);
      return 'buffer' in b ? b : { buffer: b };
    });
    seq.dispatch(cache.get(variant, step.specOverrides), bindings, step.push, step.groups);
    seq.barrier();
  }
  return plan;
}
