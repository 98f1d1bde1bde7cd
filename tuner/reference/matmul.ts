/**
 * Float64 CPU reference of the `matmul` op (../../generator/ops.ts): D[n][m] = sum_k A[m][k] * B[n][k].
 * A [M][K] (pass f16-rounded values for f16 weights), B [N][K], result [N][M] float64.
 * @throws Error if an array is shorter than its layout requires.
 */
import type { MatmulShape } from '../../generator/ops';

/** Float64 matmul reference: D[n][m] = sum_k A[m][k] * B[n][k]; result [N][M] (module doc). */
export function matmulReference(s: MatmulShape, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const { M, N, K } = s;
  if (a.length < M * K) throw new Error(`matmulReference: A has ${a.length} < M*K = ${M * K} elements`);
  if (b.length < N * K) throw new Error(`matmulReference: B has ${b.length} < N*K = ${N * K} elements`);
  const d = new Float64Array(N * M);
  for (let n = 0; n < N; n++) {
    const bo = n * K;
    for (let m = 0; m < M; m++) {
      const ao = m * K;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += a[ao + k] * b[bo + k];
      d[n * M + m] = acc;
    }
  }
  return d;
}

/** Relative error ||out - ref||_2 / ||ref||_2 (NaN if any output is NaN; ||out|| when ref is all zero). */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`relativeError: lengths ${out.length} != ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (Number.isNaN(num)) return NaN;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
