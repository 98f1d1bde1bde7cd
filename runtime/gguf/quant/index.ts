/**
 * ggml block quantization, bit-exact ports of ggml-quants.c's reference (no importance matrix) quantizers:
 * Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, plus F32/F16 pass-through, so GGUF files we write load in llama.cpp and hold
 * the bytes llama-quantize would have written from the same float32 weights.
 */
import { f16ArrayToF32, f32ArrayToF16 } from '../f16';
import { GgmlType, ggmlTypeInfo } from '../types';
import { dequantizeRowQ4_0, quantizeRowQ4_0 } from './q4_0';
import { dequantizeRowQ4_K, quantizeRowQ4_K } from './q4_k';
import { dequantizeRowQ5_0, quantizeRowQ5_0 } from './q5_0';
import { dequantizeRowQ6_K, quantizeRowQ6_K } from './q6_k';
import { dequantizeRowQ8_0, quantizeRowQ8_0 } from './q8_0';

export * from './q8_0';
export * from './q4_0';
export * from './q5_0';
export * from './q4_k';
export * from './q6_k';
export { QK_K, nearestInt } from './util';

type QuantFn = (x: Float32Array, out: Uint8Array, off?: number) => void;
type DequantFn = (src: Uint8Array, n: number, out: Float32Array, off?: number) => void;

const IMPL: Partial<Record<GgmlType, { q: QuantFn; d: DequantFn }>> = {
  [GgmlType.Q8_0]: { q: quantizeRowQ8_0, d: dequantizeRowQ8_0 },
  [GgmlType.Q4_0]: { q: quantizeRowQ4_0, d: dequantizeRowQ4_0 },
  [GgmlType.Q5_0]: { q: quantizeRowQ5_0, d: dequantizeRowQ5_0 },
  [GgmlType.Q4_K]: { q: quantizeRowQ4_K, d: dequantizeRowQ4_K },
  [GgmlType.Q6_K]: { q: quantizeRowQ6_K, d: dequantizeRowQ6_K },
};

/** The ggml types quantize()/dequantize() support (F32 and F16 included as plain conversions). */
export const SUPPORTED_QUANT_TYPES: readonly GgmlType[] = [
  GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K,
];

/** True when quantize()/dequantize() handle ggml type `type`. */
export function isSupportedQuantType(type: GgmlType): boolean { return SUPPORTED_QUANT_TYPES.includes(type); }

/**
 * Bytes of one row of `n` elements of ggml type `type` (ggml_row_size): n / blockSize * typeSize.
 * Throws for unknown types or when n is not a multiple of the block size.
 */
export function rowBytes(type: GgmlType, n: number): number {
  const info = ggmlTypeInfo(type);
  if (!Number.isInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new Error(`${n} elements is not a multiple of the ${info.name} block size ${info.blockSize}`);
  }
  return (n / info.blockSize) * info.typeSize;
}

function impl(type: GgmlType) {
  const f = IMPL[type];
  if (!f) throw new Error(`quantization to ${ggmlTypeInfo(type).name} is not implemented (supported: ${SUPPORTED_QUANT_TYPES.map((t) => ggmlTypeInfo(t).name).join(', ')})`);
  return f;
}

/**
 * Quantize float32 values `x` (any number of rows; x.length must be a multiple of the type's block size,
 * which blocks never straddle rows when rows are) into `out` at byte offset `off`; returns the bytes written.
 * Throws for unsupported types, bad lengths, or a short `out`.
 */
export function quantizeInto(type: GgmlType, x: Float32Array, out: Uint8Array, off = 0): number {
  const n = rowBytes(type, x.length);
  if (off + n > out.length) throw new Error(`quantizeInto: buffer has ${out.length} bytes, ${off + n} needed`);
  if (type === GgmlType.F32) { out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), off); return n; }
  if (type === GgmlType.F16) { const h = f32ArrayToF16(x); out.set(new Uint8Array(h.buffer), off); return n; }
  impl(type).q(x, out, off);
  return n;
}

/**
 * Quantize float32 values to ggml type `type`; returns rowBytes(type, x.length) bytes laid out as ggml blocks.
 * Throws for unsupported types or a length that is not a multiple of the block size.
 */
export function quantize(type: GgmlType, x: Float32Array): Uint8Array {
  const out = new Uint8Array(rowBytes(type, x.length));
  quantizeInto(type, x, out, 0);
  return out;
}

/**
 * Decode the first `n` elements of ggml-type `type` data `bytes` (starting at byte `off`) to float32, as
 * ggml's dequantize_row_* / to_float. Throws for unsupported types, bad n, or too few bytes.
 */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number, off = 0): Float32Array {
  const need = rowBytes(type, n);
  if (off + need > bytes.length) throw new Error(`dequantize: ${bytes.length - off} bytes given, ${need} needed for ${n} ${ggmlTypeInfo(type).name} elements`);
  if (type === GgmlType.F32) return new Float32Array(bytes.slice(off, off + need).buffer);
  if (type === GgmlType.F16) return f16ArrayToF32(new Uint16Array(bytes.slice(off, off + need).buffer));
  const out = new Float32Array(n);
  impl(type).d(bytes, n, out, off);
  return out;
}
