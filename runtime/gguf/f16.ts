/** IEEE half / bfloat16 <-> float32 conversions (round-to-nearest-even, like ggml's GGML_FP32_TO_FP16). */

import { f16BitsToF32, f32ToF16Bits } from '../../tuner/reference/f16';

// The scalar conversions live upstream, with the float64 references (tuner may not import runtime).
export { f16BitsToF32, f32ToF16Bits };

/** Float32Array -> Uint16Array of f16 bits. */
export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/** Uint16Array of f16 bits -> Float32Array (table-driven). */
export function f16ArrayToF32(src: Uint16Array): Float32Array {
  const table = f16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** Uint16Array of bf16 bits -> Float32Array. */
export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o32[i] = src[i] << 16;
  return out;
}

let table: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = f16BitsToF32(i);
  }
  return table;
}
