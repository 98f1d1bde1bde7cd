/**
 * Random device buffers for timing-only runs (tuner/ops-bench.ts): nothing is validated, so no host copy
 * of the values is kept and a large tensor costs one host fill and one upload.
 *
 * Contents (never zeros: zero data runs faster on some hardware): f32 uniform in [-1, 1); f16 finite
 * values with |x| in [2^-4, 1) (random sign, exponent and mantissa bits); ggml block types (generator/ops.ts
 * QUANT_BLOCKS) whole blocks of random bytes whose f16 scale fields (QUANT_SCALE_OFFSETS) hold random
 * positive values in [2^-8, 2^-4), so every block is valid and dequantizes to finite values. The kernel
 * does the same work on these as on blocks quantized from floats.
 *
 * Rotation: set 0 is uploaded, sets 1.. are GPU copies of it at other addresses; a cache holds data by
 * address, so consecutive repetitions on different sets find nothing cached, whatever the contents.
 */
import type { QuantType, WeightType } from '../generator/ops';
import { type KvQuantType, QUANT_BLOCKS, isKvQuantType, isQuantType, kvCacheBytes, kvQuantRowBytes, weightBytes } from '../generator/ops';
import type { Context, GpuBuffer } from '../native/vulkan/api';
import { createCounters } from '../generator/launch';
import { isRepacked, toGpuLayout } from '../generator/weight-layout';
import { CACHE_RESIDENT_BYTES, MAX_ROTATION_SETS } from './timing';

/** Byte offsets of the f16 scale fields inside one block (layouts in tuner/reference/quant.ts). */
export const QUANT_SCALE_OFFSETS: Record<QuantType, readonly number[]> = { q8_0: [0], q4_0: [0], q4_k: [0, 2], q6_k: [208] };

/** One input tensor: binding name, storage type, element count (whole blocks for block types). */
export interface BenchTensor {
  name: string;
  dtype: WeightType;
  elems: number;
  /** A K/V cache of head dim kvD (elems = rows * kvD): dtype q8_0 / q4_0 then means the cache layout (generator/ops.ts kvCacheBytes). */
  kvD?: number;
}

/** Random f16 bits: sign random, exponent field in [expLo, expHi], mantissa random (finite, normal). */
function randomF16Bits(rng: () => number, expLo: number, expHi: number, signed: boolean): number {
  const r = (rng() * 2 ** 32) >>> 0;
  const exp = expLo + (r % (expHi - expLo + 1));
  const sign = signed ? (r >>> 31) << 15 : 0;
  return sign | (exp << 10) | ((r >>> 8) & 0x3ff);
}

/**
 * Random host bytes of `elems` values stored as `dtype` (module doc), as kernels read them (q8_0 / q4_0 in
 * kpack's GPU layout, generator/weight-layout.ts; with kvD, a q8_0 / q4_0 K/V cache of head dim kvD in its layout,
 * kvCacheBytes), padded to whole 32-bit words.
 * @throws Error when a block type gets a count that is not whole blocks (weightBytes), RangeError for a quantized
 *   cache with kvD not a multiple of 32.
 */
export function randomTensorBytes(dtype: WeightType, elems: number, rng: () => number, kvD?: number): Uint8Array {
  if (kvD !== undefined && isKvQuantType(dtype)) return randomKvQuantBytes(dtype, elems / kvD, kvD, rng);
  const exact = weightBytes(dtype, elems);
  const bytes = new Uint8Array(Math.ceil(exact / 4) * 4);
  if (dtype === 'f32') {
    const v = new Float32Array(bytes.buffer);
    for (let i = 0; i < elems; i++) v[i] = rng() * 2 - 1;
  } else if (dtype === 'f16') {
    const v = new Uint16Array(bytes.buffer);
    for (let i = 0; i < elems; i++) v[i] = randomF16Bits(rng, 11, 14, true); // 2^-4 <= |x| < 1
  } else if (isQuantType(dtype)) {
    const words = new Uint32Array(bytes.buffer);
    for (let i = 0; i < words.length; i++) words[i] = (rng() * 2 ** 32) >>> 0;
    const { elems: per, bytes: blockBytes } = QUANT_BLOCKS[dtype];
    for (let b = 0; b < elems / per; b++) {
      for (const off of QUANT_SCALE_OFFSETS[dtype]) {
        const h = randomF16Bits(rng, 7, 10, false); // 2^-8 <= d < 2^-4
        bytes[b * blockBytes + off] = h & 0xff;
        bytes[b * blockBytes + off + 1] = h >> 8;
      }
    }
  }
  return isRepacked(dtype) ? toGpuLayout(dtype, bytes.subarray(0, exact)) : bytes;
}

/** A q8_0 / q4_0 K/V cache of rows x D (kvCacheBytes layout): random quants, every scale in [2^-8, 2^-4). */
function randomKvQuantBytes(type: KvQuantType, rows: number, D: number, rng: () => number): Uint8Array {
  const bytes = new Uint8Array(kvCacheBytes(type, rows, D));
  const quantBytes = rows * kvQuantRowBytes(type, D);
  const words = new Uint32Array(bytes.buffer, 0, quantBytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = (rng() * 2 ** 32) >>> 0;
  const scales = new Uint16Array(bytes.buffer, quantBytes);
  for (let i = 0; i < scales.length; i++) scales[i] = randomF16Bits(rng, 7, 10, false);
  return bytes;
}

/**
 * How many input sets to rotate among: 1 when one set is at least 4x the last-level cache (`cacheBytes`,
 * default CACHE_RESIDENT_BYTES = 64 MB since Vulkan does not report it; the H200's L2 is 50 MB), else
 * enough sets to span 4x the cache, at most MAX_ROTATION_SETS (e.g. 33 MB of Q4_0 weights -> 8 sets).
 */
export function benchRotationSets(inputBytes: number, cacheBytes = CACHE_RESIDENT_BYTES): number {
  if (inputBytes >= 4 * cacheBytes) return 1;
  return Math.min(MAX_ROTATION_SETS, Math.ceil((4 * cacheBytes) / Math.max(1, inputBytes)));
}

/** Buffer sets for timeVariant plus their owner. */
export interface BenchBuffers {
  /** Binding name -> buffer for each set: the set's inputs, the shared outputs and "scratch". */
  sets: Array<Record<string, GpuBuffer>>;
  /** Bytes of one set of inputs on the GPU. */
  inputBytes: number;
  destroy(): void;
}

/**
 * Allocate `sets` (default benchRotationSets of one set's bytes) input sets of random data (module doc),
 * one buffer per output name of the given bytes (contents undefined, shared by all sets), a "scratch"
 * buffer of `scratchBytes` (at least 16) and a zeroed "counters" buffer of COUNTER_BYTES (plans' counterWords:
 * the kernels leave them zero, and recordVariant's barriers keep the sets' dispatches from overlapping).
 * @throws Error from the native layer (out of device memory names the allocation).
 */
export function allocBenchBuffers(
  ctx: Context,
  inputs: BenchTensor[],
  outputs: Record<string, number>,
  opts: { scratchBytes: number; rng: () => number; sets?: number },
): BenchBuffers {
  const owned: GpuBuffer[] = [];
  const alloc = (bytes: number) => {
    const b = ctx.createBuffer(Math.max(16, Math.ceil(bytes / 4) * 4));
    owned.push(b);
    return b;
  };
  try {
    const counters = createCounters(ctx);
    owned.push(counters);
    const shared: Record<string, GpuBuffer> = { scratch: alloc(opts.scratchBytes), counters };
    for (const [name, bytes] of Object.entries(outputs)) shared[name] = alloc(bytes);
    const first: Record<string, GpuBuffer> = {};
    let inputBytes = 0;
    for (const t of inputs) {
      const data = randomTensorBytes(t.dtype, t.elems, opts.rng, t.kvD);
      first[t.name] = alloc(data.byteLength);
      ctx.upload(first[t.name], data);
      inputBytes += data.byteLength;
    }
    const count = opts.sets ?? benchRotationSets(inputBytes);
    const sets = [{ ...first, ...shared }];
    if (count > 1) {
      const seq = ctx.createSequence();
      try {
        for (let s = 1; s < count; s++) {
          const set: Record<string, GpuBuffer> = { ...shared };
          for (const t of inputs) {
            set[t.name] = alloc(first[t.name].size);
            seq.copy(first[t.name], set[t.name], first[t.name].size);
          }
          sets.push(set);
        }
        seq.barrier();
        seq.submit();
      } finally {
        seq.destroy();
      }
    }
    return {
      sets,
      inputBytes,
      destroy() {
        for (const b of owned) b.destroy();
        owned.length = 0;
      },
    };
  } catch (e) {
    for (const b of owned) b.destroy();
    throw e;
  }
}
