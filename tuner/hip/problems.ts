/**
 * Host problems for the HIP ports (tuner/hip/autotune.ts, docs/runs/hip-sweep.js): random inputs in the
 * layout the kernels read, their float64 references (tuner/reference), and device buffer sets for
 * timeHipVariant (tuner/hip/run.ts).
 */
import { type AttentionShape, type KvType, type MatmulShape, type WeightType, isKvQuantType, isQuantType } from '../../generator/ops';
import type { GpuBuffer, HipContext } from '../../native/hip/api';
import { attentionReference } from '../reference/attention';
import { toF16 } from '../reference/f16';
import { kvQuantize } from '../reference/kv-cache';
import { matmulReference } from '../reference/matmul';
import { dequantize } from '../reference/quant';
import { quantize } from '../reference/quantize';
import { createHipCounters, gpuWeights } from './run';

export type HipHostArray = Float32Array | Uint16Array | Uint32Array;

/** Inputs by binding name, and the output binding's name and f32 element count. */
export interface HipHostProblem {
  inputs: Record<string, HipHostArray>;
  output: { name: string; elems: number };
}

/** A problem with its float64 reference of the output and the relative L2 error bound a kernel must meet. */
export interface HipCheckedProblem extends HipHostProblem {
  shape: MatmulShape | AttentionShape;
  ref: Float64Array;
  bound: number;
}

/** n uniform values in [-1, 1). */
export function randomF32(n: number, rng: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng() * 2 - 1;
  return a;
}

/** Random f32 values as uploaded for `type` (f16 bits, or as is for f32) and the values the kernel sees. */
function asType(x: Float32Array, type: 'f16' | 'f32'): { upload: HipHostArray; ref: ArrayLike<number> } {
  if (type === 'f32') return { upload: x, ref: x };
  const h = toF16(x);
  return { upload: h.bits, ref: h.values };
}

/**
 * D = B A^T: A [M][K] of `type` (q8_0 / q4_0 in kpack's GPU layout; k-quants, f16, f32 as stored), B f32
 * [N][K]; the reference of the dequantized weights; bound 1e-5 (exact weights: f32 accumulation only).
 */
export function hipMatmulProblem(type: WeightType, s: MatmulShape, rng: () => number): HipCheckedProblem {
  const a32 = randomF32(s.M * s.K, rng);
  let a: { upload: HipHostArray; ref: ArrayLike<number> };
  if (isQuantType(type)) {
    const q = quantize(type, a32);
    a = { upload: gpuWeights(type, q), ref: dequantize(type, q, s.M * s.K) };
  } else {
    a = asType(a32, type);
  }
  const b = randomF32(s.N * s.K, rng);
  return { shape: s, inputs: { A: a.upload, B: b }, output: { name: 'D', elems: s.N * s.M }, ref: matmulReference(s, a.ref, b), bound: 1e-5 };
}

/**
 * Attention: Q f32 [queries][heads][D], K / V of `kvType` [kvHeads][kvStride][D] (q8_0 / q4_0: the cache layout of
 * generator/ops.ts kvCacheBytes, quantized on the host, tuner/reference/kv-cache.ts); bound 1e-3 with f16 K/V, 1e-5
 * with f32 and the quantized types (the reference sees the dequantized values; the bounds of test/hip-kernels.test.ts).
 */
export function hipAttentionProblem(kvType: KvType, s: AttentionShape, rng: () => number): HipCheckedProblem {
  const q = randomF32(s.queries * s.heads * s.D, rng);
  const n = s.kvHeads * s.kvStride * s.D;
  const cache = (x: Float32Array) => {
    if (!isKvQuantType(kvType)) return asType(x, kvType);
    const r = kvQuantize(kvType, x, s.kvHeads * s.kvStride, s.D);
    return { upload: new Uint32Array(r.bytes.buffer), ref: r.values };
  };
  const k = cache(randomF32(n, rng));
  const v = cache(randomF32(n, rng));
  return {
    shape: s,
    inputs: { Q: q, K: k.upload, V: v.upload },
    output: { name: 'O', elems: s.queries * s.heads * s.D },
    ref: attentionReference(s, q, k.ref, v.ref),
    bound: kvType === 'f16' ? 1e-3 : 1e-5,
  };
}

/**
 * `sets` copies of the problem's inputs on the device (each uploaded, at its own addresses), sharing one
 * output buffer, one scratch buffer of scratchBytes (at least 16) and one zeroed "counters" buffer of
 * COUNTER_BYTES (createHipCounters: plans with DispatchPlan.counterWords, left zero by the kernels; also
 * returned as `counters`); destroy() frees them all.
 * @throws Error from createBuffer / upload (everything allocated so far is freed first).
 */
export function uploadHipSets(ctx: HipContext, p: HipHostProblem, sets: number, scratchBytes: number): { sets: Array<Record<string, GpuBuffer>>; setBytes: number; counters: GpuBuffer; destroy: () => void } {
  const owned: GpuBuffer[] = [];
  const alloc = (bytes: number): GpuBuffer => {
    const b = ctx.createBuffer(Math.max(16, Math.ceil(bytes / 16) * 16));
    owned.push(b);
    return b;
  };
  try {
    const counters = createHipCounters(ctx);
    owned.push(counters);
    const shared: Record<string, GpuBuffer> = { [p.output.name]: alloc(4 * p.output.elems), scratch: alloc(scratchBytes), counters };
    const out: Array<Record<string, GpuBuffer>> = [];
    for (let i = 0; i < sets; i++) {
      const set = { ...shared };
      for (const [name, data] of Object.entries(p.inputs)) {
        set[name] = alloc(data.byteLength);
        ctx.upload(set[name], data);
      }
      out.push(set);
    }
    const setBytes = Object.values(p.inputs).reduce((n, a) => n + a.byteLength, 0);
    return { sets: out, setBytes, counters, destroy: () => owned.forEach((b) => b.destroy()) };
  } catch (e) {
    owned.forEach((b) => b.destroy());
    throw e;
  }
}
