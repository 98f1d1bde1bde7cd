/**
 * Problems: the buffers of one (op, shape, instance) filled with random data, plus the expected output.
 *
 * Inputs are uniform in [-1, 1) (never zeros: zero data runs faster on some hardware and hides
 * unwritten outputs); f16 inputs (matmul weights for instance "f16", attention K/V for "f16") are
 * rounded to f16 on the host and uploaded as f16 bits, and the reference sees the rounded values.
 * Quantized matmul weights (instances "q8_0", "q4_0"; K % 32 == 0; "q4_k", "q6_k"; K % 256 == 0) are quantized on the host to
 * valid ggml blocks (reference/quantize.ts), uploaded as bytes padded to whole 32-bit words, and the
 * reference sees their exact dequantized values (reference/quant.ts), so the kernel and the
 * reference multiply the same weights. Inputs no host reference reads (every input of a GPU-reference
 * problem, the extra rotation sets) are random bytes of the same types instead (bench-inputs.ts
 * randomTensorBytes: valid blocks, f16 with 2^-4 <= |x| < 1): the output head's 262M weights cost a
 * fill of random words, not a host quantization (about 20 s).
 * Attention K/V rows kvLength..kvStride-1 are NaN: the op contract says they are never read, so a
 * kernel that reads them produces NaN and fails validation. q8_0 / q4_0 K/V are quantized on the host into the cache
 * layout (reference/kv-cache.ts; the never-read rows get NaN scales) and the reference sees the dequantized values.
 *
 * Reference choice: shapes with at most `cpuMaxFlops` FLOPs (default CPU_REFERENCE_MAX_FLOPS) use the
 * float64 CPU references (tuner/reference); larger ones use a trusted plain GPU kernel, the default
 * variant of the simplest family for the op (trustedVariantFor), which the tests validate against the
 * CPU reference on small shapes. A GPU reference is exact up to f32 accumulation order, which the
 * tolerances of validate.ts allow for.
 */
import type { LaunchableVariant, PipelineCache } from '../generator/launch';
import { createCounters, recordVariant } from '../generator/launch';
import type { AttentionOShape, AttentionShape, FfnShape, KvType, MatmulShape, QuantType } from '../generator/ops';
import { KV_TYPES, attentionOInstanceTypes, ffnInstanceTypes, isKvQuantType, isQuantType, kvCacheBytes } from '../generator/ops';
import { gpuWeightBytes, toGpuLayout } from '../generator/weight-layout';
import type { KernelFamily, TemplateInstance } from '../generator/schema';
import { parameterSpace, variantSupports } from '../generator/schema';
import type { Context, GpuBuffer } from '../native/vulkan/api';
import { randomTensorBytes } from './bench-inputs';
import { attentionReference } from './reference/attention';
import { toF16 } from './reference/f16';
import { kvQuantize } from './reference/kv-cache';
import { matmulReference } from './reference/matmul';
import { attentionOReference, ffnReference } from './reference/ops';
import { POISON_BITS } from './validate';
import { dequantize } from './reference/quant';
import { quantize } from './reference/quantize';
import { type TunedOp, attentionOWorkload, attentionWorkload, ffnWorkload, matmulWorkload } from './workloads';

/** Largest FLOP count checked against the float64 CPU reference (~0.1-0.5 s of JS). */
export const CPU_REFERENCE_MAX_FLOPS = 2 ** 26;
/** Inputs up to this many elements are re-randomized on every `randomize()`; larger ones (weights, deep caches) keep their data and only the activations change. */
export const FRESH_MAX_ELEMS = 1 << 24;

type Dtype = 'f32' | 'f16' | QuantType;
interface InputSpec {
  name: string;
  dtype: Dtype;
  elems: number;
  /** Rows x cols view for NaN padding: rows [validRows, rows) of every `rows`-block are NaN. */
  pad?: { rows: number; cols: number; validRows: number };
  /** A K/V cache of head dim kvD: dtype q8_0 / q4_0 then means the cache layout (generator/ops.ts kvCacheBytes), not the weight layout. */
  kvD?: number;
}

export interface Problem<Shape = unknown> {
  op: TunedOp;
  shape: Shape;
  instanceKey: string;
  /** Bytes of one set of inputs as stored on the GPU. */
  inputBytes: number;
  /** Name of the output binding and its element count (f32). */
  output: { name: string; elems: number };
  referenceKind: 'cpu' | 'gpu';
  /**
   * The 32-bit pattern validation fills the output with before a run: the NaN poison (validate.ts POISON_BITS),
   * or 0 for ops that add into their output (ffn: Y must be zero on entry; attention_o: X starts at zero, so the
   * reference is Wo * attention alone), whose unwritten outputs the
   * reference comparison catches instead.
   */
  outputFill: number;
  /** Fresh random data in set 0 (see FRESH_MAX_ELEMS); invalidates the cached reference. */
  randomize(): void;
  /** `count` binding maps (set 0 first; extra sets get their own random inputs), scratch >= scratchBytes, zeroed "counters" (COUNTER_BYTES), one shared output. */
  bufferSets(count: number, scratchBytes: number): Array<Record<string, GpuBuffer>>;
  /** Expected output for set 0's inputs (cached until randomize). */
  reference(): ArrayLike<number>;
  destroy(): void;
}

export interface ProblemOptions {
  cpuMaxFlops?: number;
  /** Trusted kernel for shapes above cpuMaxFlops (required for those). */
  gpuReference?: { variant: LaunchableVariant<any>; cache: PipelineCache };
}

function inputsOf(op: TunedOp, shape: MatmulShape | AttentionShape | FfnShape | AttentionOShape, key: string): { inputs: InputSpec[]; output: { name: string; elems: number } } {
  if (op === 'attention_o') {
    const s = shape as AttentionOShape;
    const { wo, kv } = attentionOInstanceTypes(key);
    const att = inputsOf('attention', s, kv).inputs;
    return { inputs: [...att, { name: 'Wo', dtype: wo as Dtype, elems: s.dim * s.heads * s.D }], output: { name: 'X', elems: s.queries * s.dim } };
  }
  if (op === 'ffn') {
    const s = shape as FfnShape;
    const { up, down } = ffnInstanceTypes(key);
    return {
      inputs: [
        { name: 'Wgu', dtype: up as Dtype, elems: 2 * s.hidden * s.dim },
        { name: 'X', dtype: 'f32', elems: s.N * s.dim },
        { name: 'G', dtype: 'f32', elems: s.dim },
        { name: 'Wd', dtype: down as Dtype, elems: s.dim * s.hidden },
        // written (zeroed) by the kernel, not read: random contents show that it does
        { name: 'Z', dtype: 'f32', elems: s.N * s.dim },
      ],
      output: { name: 'Y', elems: s.N * s.dim },
    };
  }
  if (op === 'matmul') {
    const s = shape as MatmulShape;
    return {
      inputs: [
        { name: 'A', dtype: key as Dtype, elems: s.M * s.K },
        { name: 'B', dtype: 'f32', elems: s.N * s.K },
      ],
      output: { name: 'D', elems: s.N * s.M },
    };
  }
  const s = shape as AttentionShape;
  const kv = { dtype: key as Dtype, elems: s.kvHeads * s.kvStride * s.D, pad: { rows: s.kvStride, cols: s.D, validRows: s.kvLength }, kvD: s.D };
  return {
    inputs: [{ name: 'Q', dtype: 'f32', elems: s.queries * s.heads * s.D }, { name: 'K', ...kv }, { name: 'V', ...kv }],
    output: { name: 'O', elems: s.queries * s.heads * s.D },
  };
}

const alignedBytes = (spec: InputSpec) =>
  Math.ceil((spec.kvD !== undefined ? kvCacheBytes(spec.dtype as KvType, spec.elems / spec.kvD, spec.kvD) : gpuWeightBytes(spec.dtype, spec.elems)) / 4) * 4;

/** Random host data for one input: [what to upload, the values the reference must see]. */
function randomInput(spec: InputSpec, rng: () => number): { upload: ArrayBufferView; values: Float32Array } {
  const v = new Float32Array(spec.elems);
  for (let i = 0; i < v.length; i++) v[i] = rng() * 2 - 1;
  if (spec.pad) {
    const { rows, cols, validRows } = spec.pad;
    for (let r = 0; r < spec.elems / cols; r++) if (r % rows >= validRows) v.fill(NaN, r * cols, (r + 1) * cols);
  }
  if (spec.dtype === 'f32') return { upload: v, values: v };
  if (spec.kvD !== undefined && isKvQuantType(spec.dtype)) {
    // the cache layout; NaN rows (spec.pad) get NaN scales instead of quants
    const pad = spec.pad;
    const r = kvQuantize(spec.dtype, v, spec.elems / spec.kvD, spec.kvD, pad ? (row: number) => row % pad.rows < pad.validRows : undefined);
    return { upload: r.bytes, values: r.values };
  }
  if (isQuantType(spec.dtype)) {
    const blocks = quantize(spec.dtype, v);
    const bytes = new Uint8Array(alignedBytes(spec)); // whole 32-bit words
    bytes.set(toGpuLayout(spec.dtype, blocks));
    return { upload: bytes, values: Float32Array.from(dequantize(spec.dtype, blocks, spec.elems)) }; // exact: |q| * f16 d fits f32
  }
  const h = toF16(v);
  const bits = new Uint16Array(Math.ceil(h.bits.length / 2) * 2); // whole 32-bit words
  bits.set(h.bits);
  return { upload: bits, values: h.values };
}

/**
 * Allocate, fill and describe a problem. ffn and attention_o problems always use the float64 CPU reference (no
 * plain GPU kernel implements the op; ~6 N hidden dim multiply-adds of JS, under a second for llama-3.2-1b; the
 * attention at depth 8191 of llama-3.2-1b plus a 2048 x 2048 projection, about as much).
 * attention_o instances are "Wo type.K/V type" (generator/ops.ts attentionOInstanceKey).
 * @throws Error for an unknown op/instance (quantized instances are matmul and ffn only, with K % 32 == 0),
 *   or when the shape needs a GPU reference and none is given.
 */
export function makeProblem<Shape extends MatmulShape | AttentionShape | FfnShape | AttentionOShape>(
  ctx: Context,
  op: TunedOp,
  shape: Shape,
  instanceKey: string,
  rng: () => number,
  opts: ProblemOptions = {},
): Problem<Shape> {
  const quant = op === 'ffn' ? Object.values(ffnInstanceTypes(instanceKey)).every(isQuantType) : isQuantType(instanceKey);
  if (op === 'attention_o') {
    const { wo, kv } = attentionOInstanceTypes(instanceKey);
    if (!KV_TYPES.includes(kv as KvType) || !(wo === 'f16' || wo === 'f32' || isQuantType(wo))) throw new Error(`makeProblem: unknown attention_o instance "${instanceKey}"`);
  } else if (op === 'attention') {
    if (!KV_TYPES.includes(instanceKey as KvType)) throw new Error(`makeProblem: unknown attention instance "${instanceKey}" (K/V types ${KV_TYPES.join(', ')})`);
  } else if (instanceKey !== 'f32' && instanceKey !== 'f16' && !quant) throw new Error(`makeProblem: unknown instance "${instanceKey}"`);
  if (quant && op === 'matmul' && (shape as MatmulShape).K % 32) throw new Error(`makeProblem: ${instanceKey} needs K % 32 == 0, got K = ${(shape as MatmulShape).K}`);
  const { inputs, output } = inputsOf(op, shape, instanceKey);
  const flops =
    op === 'matmul' ? matmulWorkload(instanceKey as Dtype, shape as MatmulShape).flops
    : op === 'ffn' ? ffnWorkload(instanceKey, shape as FfnShape).flops
    : op === 'attention_o' ? attentionOWorkload(instanceKey, shape as AttentionOShape).flops
    : attentionWorkload(instanceKey as KvType, shape as AttentionShape).flops;
  const referenceKind = op === 'ffn' || op === 'attention_o' || flops <= (opts.cpuMaxFlops ?? CPU_REFERENCE_MAX_FLOPS) ? 'cpu' : 'gpu';
  if (referenceKind === 'gpu' && !opts.gpuReference) throw new Error(`makeProblem: ${op} ${JSON.stringify(shape)} needs a GPU reference kernel (${flops} FLOPs)`);
  const owned: GpuBuffer[] = [];
  const alloc = (bytes: number) => {
    const b = ctx.createBuffer(Math.max(16, bytes));
    owned.push(b);
    return b;
  };
  const fill = (set: Record<string, GpuBuffer>, host: Record<string, Float32Array> | null, onlyFresh: boolean) => {
    for (const spec of inputs) {
      if (onlyFresh && spec.elems > FRESH_MAX_ELEMS && host === null) continue;
      if (host === null && !spec.pad) {
        // no host copy needed (GPU reference, or a rotation set): random valid bytes, no host quantization
        ctx.upload(set[spec.name], randomTensorBytes(spec.dtype, spec.elems, rng, spec.kvD));
        continue;
      }
      const r = randomInput(spec, rng);
      ctx.upload(set[spec.name], r.upload);
      if (host) host[spec.name] = r.values;
    }
  };
  const out = alloc(output.elems * 4);
  let scratch = alloc(16);
  // zeroed u32 counters (DispatchPlan.counterWords), shared by the sets: the kernels leave them zero
  const counters = createCounters(ctx);
  owned.push(counters);
  const sets: Array<Record<string, GpuBuffer>> = [];
  const newSet = () => {
    const set: Record<string, GpuBuffer> = {};
    for (const spec of inputs) set[spec.name] = alloc(alignedBytes(spec));
    return set;
  };
  sets.push(newSet());
  let host: Record<string, Float32Array> | null = referenceKind === 'cpu' ? {} : null;
  fill(sets[0], host, false);
  let cached: ArrayLike<number> | null = null;

  const gpuRef = (): Float32Array => {
    const { variant, cache } = opts.gpuReference!;
    const plan = variant.family.plan(shape, variant.params, variant.instance);
    const refOut = ctx.createBuffer(output.elems * 4);
    const refScratch = ctx.createBuffer(Math.max(16, plan.scratchBytes));
    const seq = ctx.createSequence();
    try {
      recordVariant(seq, cache, variant, shape, { ...sets[0], [output.name]: refOut, scratch: refScratch, counters }, plan);
      seq.submit();
      return new Float32Array(ctx.download(refOut, 0, output.elems * 4));
    } finally {
      seq.destroy();
      refOut.destroy();
      refScratch.destroy();
    }
  };

  return {
    op,
    shape,
    instanceKey,
    inputBytes: inputs.reduce((a, s) => a + alignedBytes(s), 0),
    output,
    referenceKind,
    outputFill: op === 'ffn' || op === 'attention_o' ? 0 : POISON_BITS,
    randomize() {
      fill(sets[0], host, true);
      cached = null;
    },
    bufferSets(count, scratchBytes) {
      if (scratchBytes > scratch.size) scratch = alloc(scratchBytes);
      while (sets.length < count) {
        sets.push(newSet());
        fill(sets[sets.length - 1], null, false);
      }
      return sets.slice(0, count).map((s) => ({ ...s, [output.name]: out, scratch, counters }));
    },
    reference() {
      if (!cached) {
        if (referenceKind === 'gpu') cached = gpuRef();
        else if (op === 'matmul') cached = matmulReference(shape as MatmulShape, host!.A, host!.B);
        else if (op === 'ffn') cached = ffnReference(shape as FfnShape, { wgu: host!.Wgu, wd: host!.Wd, g: host!.G }, host!.X);
        else if (op === 'attention_o') cached = attentionOReference(shape as AttentionOShape, host!.Q, host!.K, host!.V, host!.Wo, null);
        else cached = attentionReference(shape as AttentionShape, host!.Q, host!.K, host!.V);
      }
      return cached;
    },
    destroy() {
      for (const b of owned) b.destroy();
      owned.length = 0;
      host = null;
    },
  };
}

/**
 * The trusted plain kernel for an op: the default variant of the simplest family (fewest points in
 * its parameter space; registry order breaks ties) that supports the shape and instance and needs
 * no optional device feature. Null when none does.
 */
export function trustedVariantFor<Shape>(
  families: KernelFamily<Shape>[],
  shape: Shape,
  instanceKey: string,
): { family: KernelFamily<Shape>; instance: TemplateInstance } | null {
  let best: { family: KernelFamily<Shape>; instance: TemplateInstance; size: number } | null = null;
  for (const family of families) {
    const instance = family.instances.find((i) => i.key === instanceKey && !(i.requiresDevice?.length));
    if (!instance || !variantSupports(family, shape, family.defaults, instance)) continue;
    let size = 0;
    for (const _ of parameterSpace(family)) size++;
    if (!best || size < best.size) best = { family, instance, size };
  }
  return best && { family: best.family, instance: best.instance };
}
