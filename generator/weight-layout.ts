/**
 * How block-quantized weights sit in GPU memory (the layout every kernel reading binding A or an embed table
 * of these types expects). GGUF stores ggml blocks back to back: a q4_0 block is an f16 scale d then 16
 * quant bytes (18 bytes), a q8_0 block d then 32 int8 (34 bytes), so blocks are only 2-byte aligned and a
 * kernel can read them 16 bits at a time. kpack repacks q8_0 and q4_0 once, at upload, into groups of
 * QGROUP = 8 blocks (the global block index b = row * K/32 + block in row; group g = b / 8, j = b % 8):
 *
 *   group g (QGROUP_BYTES: q4_0 144 = 9 x 16, q8_0 272 = 17 x 16 bytes):
 *     bytes [0, 16):                     the f16 scales d of blocks 8g .. 8g+7
 *     bytes [16 + j*Q, 16 + (j+1)*Q):   block 8g+j's quants as ggml stores them (Q = 16 or 32)
 *
 * so every group, and every block's quants, start at a multiple of 16 bytes: one 128-bit load per 16 quant
 * bytes. The last group is zero-padded. Same bytes, same values: a reordering, never a dequantized copy.
 * q4_k (144-byte super-blocks, already 16-byte aligned), q6_k, f16 and f32 keep the GGUF layout.
 */
import { QUANT_BLOCKS, type WeightType, weightBytes } from './ops';

/** Blocks per group in the GPU layout of q8_0 / q4_0. */
export const QGROUP = 8;

/** The weight types that kpack repacks at upload (module doc). */
export const isRepacked = (type: string): type is 'q8_0' | 'q4_0' => type === 'q8_0' || type === 'q4_0';

/** Quant bytes per block of a repacked type (the block minus its f16 scale). */
const quantBytes = (type: 'q8_0' | 'q4_0') => QUANT_BLOCKS[type].bytes - 2;

/** Bytes of one group of a repacked type: 16 bytes of scales + QGROUP blocks of quants. */
export const qgroupBytes = (type: 'q8_0' | 'q4_0'): number => 16 + QGROUP * quantBytes(type);

/**
 * Bytes `elems` values of `type` take on the GPU (for a matrix, elems = rows * cols).
 * @throws Error when a block type gets a count that is not whole blocks.
 */
export function gpuWeightBytes(type: WeightType, elems: number): number {
  if (isRepacked(type)) {
    const per = QUANT_BLOCKS[type].elems;
    if (elems % per) throw new Error(`gpuWeightBytes: ${elems} ${type} elements are not whole ${per}-element blocks`);
    return Math.ceil(elems / per / QGROUP) * qgroupBytes(type);
  }
  return weightBytes(type, elems);
}

/**
 * GGUF bytes of a tensor of `type` -> the bytes to upload (module doc): a new array for q8_0 / q4_0, the input
 * itself for the other types.
 * @param raw ggml blocks (or f16 / f32 values), as stored in GGUF; for a block type, whole blocks
 * @throws Error when raw is not a whole number of blocks
 */
export function toGpuLayout(type: WeightType, raw: Uint8Array): Uint8Array {
  if (!isRepacked(type)) return raw;
  const bb = QUANT_BLOCKS[type].bytes, q = bb - 2, gb = qgroupBytes(type);
  if (raw.length % bb) throw new Error(`toGpuLayout: ${raw.length} bytes are not whole ${type} blocks of ${bb} bytes`);
  const blocks = raw.length / bb;
  const out = new Uint8Array(Math.ceil(blocks / QGROUP) * gb);
  for (let b = 0; b < blocks; b++) {
    const g = Math.floor(b / QGROUP), j = b % QGROUP, src = b * bb, dst = g * gb;
    out[dst + 2 * j] = raw[src];
    out[dst + 2 * j + 1] = raw[src + 1];
    out.set(raw.subarray(src + 2, src + bb), dst + 16 + j * q);
  }
  return out;
}

/**
 * The inverse of toGpuLayout for `elems` values: GPU bytes -> ggml blocks (tests, and reading weights back).
 * @throws Error when gpu is shorter than gpuWeightBytes(type, elems)
 */
export function fromGpuLayout(type: WeightType, gpu: Uint8Array, elems: number): Uint8Array {
  if (!isRepacked(type)) return gpu;
  const need = gpuWeightBytes(type, elems);
  if (gpu.length < need) throw new Error(`fromGpuLayout: ${gpu.length} bytes, ${need} needed for ${elems} ${type} values`);
  const bb = QUANT_BLOCKS[type].bytes, q = bb - 2, gb = qgroupBytes(type);
  const blocks = elems / QUANT_BLOCKS[type].elems;
  const raw = new Uint8Array(blocks * bb);
  for (let b = 0; b < blocks; b++) {
    const g = Math.floor(b / QGROUP), j = b % QGROUP, dst = b * bb, src = g * gb;
    raw[dst] = gpu[src + 2 * j];
    raw[dst + 1] = gpu[src + 2 * j + 1];
    raw.set(gpu.subarray(src + 16 + j * q, src + 16 + (j + 1) * q), dst + 2);
  }
  return raw;
}
