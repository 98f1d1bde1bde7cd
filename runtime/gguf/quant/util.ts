/**
 * Shared helpers for the ggml block quantizers: float32 arithmetic emulation, ggml's nearest_int,
 * f16 packing of block scales. Every quantizer evaluates ggml's C expressions in float32 (Math.fround after
 * each operation), which gives the same bits as C compiled with FLT_EVAL_METHOD 0 and no FMA contraction:
 * double rounding of a single +, -, *, / or sqrt of float32 operands is innocuous (53 >= 2*24 + 2).
 */
import { f16BitsToF32, f32ToF16Bits } from '../f16';

/** Elements per k-quant super-block (ggml QK_K). */
export const QK_K = 256;

/** Round a double to float32 (alias of Math.fround). */
export const fr = Math.fround;

/** ggml's GROUP_MAX_EPS (1e-15f): blocks whose largest magnitude is below it are treated as all zero. */
export const GROUP_MAX_EPS = Math.fround(1e-15);

/** ggml nearest_int: round to nearest, ties to even (the 1.5 * 2^23 trick), for |v| <= 4194303. */
export function nearestInt(v: number): number {
  const r = Math.round(v); // floor(v + 0.5): ties go up
  return (r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r) | 0; // | 0: an int, never -0
}

/** C roundf: round half away from zero. */
export function roundf(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

let table: Float32Array | undefined;
/** f16 bits -> float32 value (GGML_FP16_TO_FP32; exact). */
export function fromF16(h: number): number {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = f16BitsToF32(i);
  }
  return table[h];
}

/** float32 value -> f16 bits (GGML_FP32_TO_FP16: round to nearest even). `x` must already be a float32. */
export function toF16(x: number): number { return f32ToF16Bits(x); }

/** Read a little-endian u16 at `o`. */
export function getU16(b: Uint8Array, o: number): number { return b[o] | (b[o + 1] << 8); }

/** Write a little-endian u16 at `o`. */
export function putU16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }

/** Throw unless `n` is a non-negative multiple of `block` and the buffers hold what the call needs. */
export function checkRow(what: string, n: number, block: number, bytesNeeded: number, bytesHave: number): void {
  if (!Number.isInteger(n) || n < 0 || n % block !== 0) throw new Error(`${what}: ${n} elements is not a multiple of the block size ${block}`);
  if (bytesHave < bytesNeeded) throw new Error(`${what}: buffer has ${bytesHave} bytes, ${bytesNeeded} needed`);
}
