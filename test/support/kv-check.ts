/**
 * Checks of a quantized (q8_0 / q4_0) K/V cache a kernel wrote (generator/ops.ts kvCacheBytes), shared by the rope_kv
 * tests (Vulkan and HIP) and matmul.vecq's fused rope: rows it must not touch keep their bytes, written rows
 * dequantize close to the reference.
 */
import assert from 'node:assert/strict';
import { type KvQuantType, kvQuantRowBytes, kvScalesPerRow } from '../../generator/ops';
import { f16BitsToF32 } from '../../tuner/reference/f16';
import { kvDequantize } from '../../tuner/reference/kv-cache';

/**
 * Asserts that every cache row (of `rows`, head dim D) for which `written` is false has the quants and scale words it
 * had `before`, and returns the cache's values (f32 rows x D, kvDequantize).
 */
export function untouchedRowsAndValues(kvType: KvQuantType, got: ArrayBuffer, before: Uint8Array, rows: number, D: number, written: (r: number) => boolean, what: string): { bytes: Uint8Array; values: Float32Array } {
  const bytes = new Uint8Array(got);
  const rb = kvQuantRowBytes(kvType, D), spr = kvScalesPerRow(D);
  for (let r = 0; r < rows; r++) {
    if (written(r)) continue;
    for (const [a, b] of [[r * rb, (r + 1) * rb], [rows * rb + 2 * r * spr, rows * rb + 2 * (r + 1) * spr]]) {
      assert.deepEqual(bytes.subarray(a, b), before.subarray(a, b), `${what}: row ${r} (not a written position) changed`);
    }
  }
  return { bytes, values: kvDequantize(kvType, bytes, rows, D) };
}

/**
 * Asserts, for every block of the written rows, that each value is within a quantization step of the reference
 * `want` (f64 rows x D): half a step plus the f16 rounding of the scale for q8_0 (|q| <= 127 steps of at most 2^-11
 * relative), one step for q4_0 (its grid is -8..7, so a value near -m clamps to 7 steps), the step being ggml's scale
 * of the reference block: max|x| / 127 (q8_0) or m / -8 with m the value of largest magnitude (q4_0). With
 * `checkScales`, the stored scale must also be within 1e-3 (relative) of that scale.
 */
export function assertWithinQuantStep(kvType: KvQuantType, bytes: Uint8Array, values: Float32Array, want: ArrayLike<number>, rows: number, D: number, written: (r: number) => boolean, what: string, checkScales = false): void {
  const rb = kvQuantRowBytes(kvType, D), spr = kvScalesPerRow(D);
  const scales = new DataView(bytes.buffer, bytes.byteOffset + rows * rb);
  for (let r = 0; r < rows; r++) {
    if (!written(r)) continue;
    for (let b = 0; b < D / 32; b++) {
      let m = 0;
      for (let i = 0; i < 32; i++) if (Math.abs(want[r * D + 32 * b + i]) > Math.abs(m)) m = want[r * D + 32 * b + i];
      const d = kvType === 'q8_0' ? Math.abs(m) / 127 : m / -8;
      const steps = kvType === 'q8_0' ? 0.5 + 127 * 2 ** -11 : 1 + 8 * 2 ** -11;
      if (checkScales) {
        const dGot = f16BitsToF32(scales.getUint16(2 * (r * spr + b), true));
        assert.ok(Math.abs(dGot - d) <= Math.abs(d) * 1e-3 + 1e-9, `${what}: row ${r} block ${b}: scale ${dGot} vs ${d}`);
      }
      for (let i = 0; i < 32; i++) {
        const e = r * D + 32 * b + i;
        assert.ok(Math.abs(values[e] - want[e]) <= Math.abs(d) * steps + 1e-6, `${what}: row ${r} element ${e - r * D}: ${values[e]} vs ${want[e]}`);
      }
    }
  }
}
