/**
 * IEEE binary16 <-> binary32 conversion (round to nearest even), for f16 weights/caches in tests and
 * references. Bits are u16 values in a Uint16Array (little-endian when uploaded).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits of `x` (converted to f32 first), round to nearest even; overflow -> inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000; // implicit bit
    const shift = 14 - e; // 14..24
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent (correct, incl. -> inf)
  return sign | h;
}

/** Value of f16 bits `h` as a number. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round every element to the nearest f16 value: returns [f16 bits, their f32 values]. */
export function toF16(values: ArrayLike<number>): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(values.length);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    bits[i] = f32ToF16Bits(values[i]);
    out[i] = f16BitsToF32(bits[i]);
  }
  return { bits, values: out };
}

/** Decode a Uint16Array of f16 bits to f32. */
export function f16ToF32Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
  return out;
}
