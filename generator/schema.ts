/**
 * One schema per kernel family declares each tunable parameter once: its name, candidate values,
 * specialization-constant id, and the formulas that involve it (shared memory, workgroup size,
 * constraints, dispatch geometry). The template (via Handlebars), the host-side pipeline creation,
 * the pruning and the pack entry are all derived from it, so host and shader cannot drift.
 *
 * This module is pure data and arithmetic: the runtime imports family schemas to launch kernels
 * from a pack without ever touching the template engine or a GLSL compiler.
 */
import type { CoopmatShape, SpecConstant, SpecConstantType } from '../native/vulkan/api';
import { isKvQuantType } from './ops';

/** A point in a family's parameter space: parameter name -> value. */
export type Params = Record<string, number>;

export interface ParamSpec {
  name: string;
  /** Candidate values, in the order exhaustive search visits them. */
  values: readonly number[];
  /** Specialization-constant id in the template (`layout(constant_id = N)`). */
  specId: number;
  /** Spec-constant type, default 'u32'. */
  type?: SpecConstantType;
  doc: string;
}

/** What pruning needs to know about a device (derived from native DeviceInfo). */
export interface DeviceLimits {
  subgroupSize: number;
  maxSharedMemoryBytes: number;
  maxWorkgroupInvocations: number;
  maxWorkgroupSizeX: number;
  coopmatShapes: CoopmatShape[];
  shaderFloat16: boolean;
  coopmat: boolean;
  coopmat2: boolean;
  integerDotProduct: boolean;
  /** atomicAdd on f32 in storage buffers (VK_EXT_shader_atomic_float shaderBufferFloat32AtomicAdd). */
  atomicFloatAdd: boolean;
  multiprocessorCount: number;
}

/**
 * A compile-time instance of a template: the values that change the SPIR-V itself (weight dtype,
 * K/V dtype, coopmat on/off). Each instance is rendered and compiled once; tunable parameters are
 * specialization constants applied at pipeline creation.
 */
export interface TemplateInstance {
  /** Unique within the family, e.g. "f16" or "f16.kvf32". */
  key: string;
  /** Values passed to the Handlebars template. */
  defines: Record<string, string | number | boolean>;
  /** GLSL extensions the instance needs from the compiler, e.g. "GL_KHR_cooperative_matrix". */
  requiresCompilerExtensions?: string[];
  /** Device features the instance needs ('coopmat', 'coopmat2', 'shaderFloat16', ...). */
  requiresDevice?: Array<keyof Pick<DeviceLimits, 'coopmat' | 'coopmat2' | 'shaderFloat16' | 'integerDotProduct' | 'atomicFloatAdd'>>;
  /**
   * Added to the family's launch-contract version for this instance's entries (default 0): bumped when only
   * this instance's binding layout changed (e.g. q8_0 / q4_0 weights in the GPU layout: +1), so packs of the
   * other instances stay valid.
   */
  abiDelta?: number;
}

/** A storage-buffer binding of a family: its name and whether the kernel writes it. */
export interface BindingSpec {
  name: string;
  access: 'read' | 'write' | 'readwrite';
  /**
   * The kernel reads it only under some shape flags (e.g. the RMSNorm weight of a matmul epilogue):
   * when no buffer is supplied, the launcher binds the first binding's buffer in its place.
   */
  optional?: boolean;
}

/** One dispatch of a plan: extra spec constants (e.g. the pass of a two-pass kernel), push constants, groups. */
export interface DispatchStep {
  /** Spec-constant overrides for this step (pipeline = instance SPIR-V + params + these). */
  specOverrides?: Params;
  /** Push-constant bytes (little-endian), exactly the family's pushConstantBytes long. */
  push: Uint8Array;
  groups: [number, number, number];
}

export interface DispatchPlan {
  steps: DispatchStep[];
  /** Bytes of scratch memory the plan needs on binding "scratch" (0 if none). */
  scratchBytes: number;
  /**
   * u32 words the plan needs on binding "counters" (absent or 0 if none): zero on entry, and the kernel
   * leaves them zero (e.g. attention.vec MERGE 1's per-tile split counts), so one zeroed buffer serves every
   * call recorded one after another.
   */
  counterWords?: number;
}

/** Bytes of the zeroed "counters" buffer the runtime and the tuner supply (plans need at most this many / 4 words). */
export const COUNTER_BYTES = 16384;

/**
 * A kernel family: one template, one parameter space, one operation contract.
 * `Shape` is the op's problem description (see ./ops.ts).
 */
export interface KernelFamily<Shape = unknown> {
  /** Family id, e.g. "matmul.tile"; unique across the project. */
  id: string;
  /** The operation it implements (several families may implement one op). */
  op: string;
  /**
   * Version of the launch contract (bindings, push-constant layout, spec-constant ids), default 1.
   * Bumped whenever it changes; pack entries record it and the runtime ignores entries of another
   * version, so a pack tuned with an older template is never launched under the new contract.
   */
  abi?: number;
  /**
   * Earlier versions of the launch contract whose pack entries still run under the current plan(): their
   * kernels lack only features added since, which the caller gates by the entry's version (e.g.
   * `ropeSince`). The runtime keeps such entries instead of calling them stale.
   */
  compatibleAbis?: readonly number[];
  /** Whether the family implements MatmulShape.epilogue (the decode-step fusions); matmul families only. */
  fusesEpilogue?: boolean;
  /** The launch-contract version from which the family's kernels fuse MatmulEpilogue.rope (absent: never). */
  ropeSince?: number;
  /** The launch-contract version from which that rope fusion also writes q8_0 / q4_0 caches (absent: never). */
  quantRopeSince?: number;
  /**
   * Relative L2 error the family's arithmetic may reach, when looser than the op's own tolerance
   * (tuner/validate.ts toleranceFor); e.g. matmul.vecq rounds activations to 8 bits. Validation uses the
   * larger of the two.
   */
  tolerance?: number;
  /** Template file under templates/, e.g. "matmul_tile.comp.hbs". */
  template: string;
  instances: TemplateInstance[];
  params: ParamSpec[];
  /** The built-in default variant (used without a pack, and as the speed bar a winner must clear). */
  defaults: Params;
  bindings: BindingSpec[];
  pushConstantBytes: number;
  /** Workgroup size [x, y, z] of a variant. */
  workgroupSize(p: Params): [number, number, number];
  /** Shared memory a workgroup of this variant uses, bytes (must mirror the template's shared arrays). */
  sharedMemoryBytes(p: Params, instance: TemplateInstance): number;
  /**
   * Why this variant cannot run on this device (or is meaningless), or null if it can.
   * Device-independent checks (divisibility, tile relations) belong here too.
   */
  reject(p: Params, instance: TemplateInstance, limits: DeviceLimits): string | null;
  /** Whether the family can run this shape at all (e.g. a GEMV family only for small N). */
  supports(shape: Shape, instance: TemplateInstance): boolean;
  /**
   * Whether variant p can run a shape that supports() admits, where some parameter values cannot (e.g.
   * matmul.vecq BQ 0 holds all of B in shared memory: N * K <= 16384). Absent: every variant can.
   * Callers use variantSupports().
   */
  supportsVariant?(shape: Shape, p: Params, instance: TemplateInstance): boolean;
  /** How to launch a variant on a shape. */
  plan(shape: Shape, p: Params, instance: TemplateInstance): DispatchPlan;
}

/** Whether variant p of `family` can run `shape`: supports() and, where the family has it, supportsVariant(). */
export function variantSupports<S>(family: KernelFamily<S>, shape: S, p: Params, instance: TemplateInstance): boolean {
  return family.supports(shape, instance) && (family.supportsVariant?.(shape, p, instance) ?? true);
}

/** A family's launch-contract version (KernelFamily.abi, default 1). */
export const familyAbi = (family: Pick<KernelFamily<any>, 'abi'>): number => family.abi ?? 1;

/**
 * The launch-contract version pack entries of `instanceKey` record: the family's plus the instance's abiDelta
 * (an instance the family lacks counts as 0).
 */
export const entryAbi = (family: Pick<KernelFamily<any>, 'abi' | 'instances'>, instanceKey: string): number =>
  familyAbi(family) + (family.instances.find((i) => i.key === instanceKey)?.abiDelta ?? 0);

/**
 * Whether a pack entry of `instanceKey` recorded under contract version `abi` runs under this kpack: its
 * version is entryAbi's, or one of the family's compatibleAbis (plus the instance's abiDelta).
 */
export function entryAbiRuns(family: Pick<KernelFamily<any>, 'abi' | 'instances' | 'compatibleAbis'>, instanceKey: string, abi: number): boolean {
  const current = entryAbi(family, instanceKey);
  const delta = current - familyAbi(family);
  return abi === current || (family.compatibleAbis ?? []).some((a) => a + delta === abi);
}

/**
 * Whether a variant recorded under entry contract `abi` fuses MatmulEpilogue.rope (KernelFamily.ropeSince) for a
 * cache of `kvType` (q8_0 / q4_0: from KernelFamily.quantRopeSince).
 */
export function fusesRope(family: Pick<KernelFamily<any>, 'abi' | 'instances' | 'ropeSince' | 'quantRopeSince'>, instanceKey: string, abi: number, kvType = 'f16'): boolean {
  const since = isKvQuantType(kvType) ? family.quantRopeSince : family.ropeSince;
  return since !== undefined && abi - (entryAbi(family, instanceKey) - familyAbi(family)) >= since;
}

/** Spec constants for pipeline creation: the family's params plus step overrides, typed by the schema. */
export function specConstants(family: KernelFamily<any>, p: Params, overrides: Params = {}): SpecConstant[] {
  const out: SpecConstant[] = [];
  for (const spec of family.params) {
    const v = spec.name in overrides ? overrides[spec.name] : p[spec.name];
    if (v === undefined) throw new Error(`${family.id}: parameter ${spec.name} has no value`);
    out.push({ id: spec.specId, value: v, type: spec.type ?? 'u32' });
  }
  return out;
}

/** Every point of the Cartesian product of the family's parameter values. */
export function* parameterSpace(family: KernelFamily<any>): Generator<Params> {
  const names = family.params.map((s) => s.name);
  const idx = new Array(names.length).fill(0);
  if (names.length === 0) {
    yield {};
    return;
  }
  for (;;) {
    const p: Params = {};
    names.forEach((n, i) => (p[n] = family.params[i].values[idx[i]]));
    yield p;
    let d = names.length - 1;
    while (d >= 0 && ++idx[d] === family.params[d].values.length) idx[d--] = 0;
    if (d < 0) return;
  }
}

/** Stable key for a variant: "family/instance/BM=64,BN=64,...". */
export function variantKey(family: KernelFamily<any>, instanceKey: string, p: Params): string {
  return `${family.id}/${instanceKey}/` + family.params.map((s) => `${s.name}=${p[s.name]}`).join(',');
}

/** Little-endian push-constant encoder: fields written in order, 4 bytes each. */
export class PushWriter {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private offset = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u32(v: number): this {
    this.view.setUint32(this.offset, v >>> 0, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v | 0, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  done(): Uint8Array {
    if (this.offset !== this.bytes.length) {
      throw new Error(`push constants: wrote ${this.offset} bytes, block is ${this.bytes.length}`);
    }
    return this.bytes;
  }
}

/** ceil(a / b) for non-negative integers a and b > 0 (workgroup counts). */
export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);
