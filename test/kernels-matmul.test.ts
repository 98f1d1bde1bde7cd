/**
 * matmul.tile, matmul.vec and matmul.coopmat (when the device and compiler have coopmat) vs the float64
 * reference on the first Vulkan device: f32 and f16 weights, ragged shapes (M=67, N=13, K=131 ...),
 * N = 1..8 for the GEMV family, defaults plus points sampled from the pruned space. D is poisoned with
 * NaN before each run; inputs are fresh random values per check. Skips when no Vulkan device.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { findCompiler, missingExtensions } from '../generator/compile';
import { matmulCoopmat } from '../generator/families/matmul_coopmat';
import { matmulTile } from '../generator/families/matmul_tile';
import { matmulVec } from '../generator/families/matmul_vec';
import type { MatmulShape } from '../generator/ops';
import { enumerateVariants, instanceUnsupported } from '../generator/prune';
import type { KernelFamily, Params, TemplateInstance } from '../generator/schema';
import { toF16 } from '../tuner/reference/f16';
import { matmulReference, relativeError } from '../tuner/reference/matmul';
import { type Gpu, closeGpu, fmtParams, openGpu, randomF32, runVariant, samplePoints } from './support/kernel-harness';

const { gpu, why } = openGpu();
after(closeGpu);

const norm = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0));

/** Run one matmul variant on fresh random inputs and compare with the reference. */
async function check(g: Gpu, family: KernelFamily<MatmulShape>, inst: TemplateInstance, p: Params, s: MatmulShape, bound: number, roundInputs = false): Promise<void> {
  const a32 = randomF32(s.M * s.K);
  const b32 = randomF32(s.N * s.K);
  const f16 = inst.defines.WTYPE === 'f16';
  const a = f16 ? toF16(a32) : null;
  const aRef = a ? a.values : roundInputs ? toF16(a32).values : a32;
  const bRef = roundInputs ? toF16(b32).values : b32;
  const out = await runVariant(g, family, inst, p, s, { A: a ? a.bits : a32, B: b32 }, { D: { bytes: 4 * s.M * s.N } });
  const d = new Float32Array(out.D);
  const ref = matmulReference(s, aRef, bRef);
  // ||D - ref|| / ||ref||; with fewer than 64 outputs a single cancelling sum can make ||ref|| tiny, so
  // there the denominator is || |A| |B|^T || (the usual GEMM error bound).
  const err =
    ref.length >= 64
      ? relativeError(d, ref)
      : relativeError(d, ref) * (norm(ref) / norm(matmulReference(s, Array.from(aRef, Math.abs), Array.from(bRef, Math.abs))));
  assert.ok(err < bound, `${family.id}/${inst.key} ${fmtParams(p)} M=${s.M} N=${s.N} K=${s.K}: rel err ${err} >= ${bound}`);
}

const SHAPES: MatmulShape[] = [
  { M: 67, N: 13, K: 131 },
  { M: 64, N: 32, K: 128 },
  { M: 1, N: 1, K: 1 },
  { M: 130, N: 37, K: 512 },
  { M: 33, N: 70, K: 36 },
];

describe('matmul kernels on Vulkan', { skip: gpu ? false : `skipped: ${why}` }, () => {
  const g = gpu as Gpu;

  for (const inst of matmulTile.instances) {
    it(`matmul.tile/${inst.key}: defaults and sampled points, ragged shapes`, async () => {
      const space = enumerateVariants(matmulTile, inst, g.limits).kept;
      assert.ok(space.length > 0);
      const points = [
        matmulTile.defaults,
        { ...matmulTile.defaults, VEC: 1, SHMEM_PAD: 0 },
        { ...matmulTile.defaults, VEC: 2, SHMEM_RESERVE: 8192 },
        ...samplePoints(space, 4, matmulTile.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulTile.reject(p, inst, g.limits), null, fmtParams(p));
        for (const s of SHAPES) await check(g, matmulTile, inst, p, s, 1e-5);
      }
    });
  }

  for (const inst of matmulVec.instances) {
    it(`matmul.vec/${inst.key}: N=1..8, both reductions, sampled points`, async () => {
      const space = enumerateVariants(matmulVec, inst, g.limits).kept;
      const sg = g.limits.subgroupSize;
      const points = [
        matmulVec.defaults,
        { WG: 64, ROWS: 8, KSPLIT: sg, REDUCE: 0, VEC: 4 },
        { WG: 32, ROWS: 8, KSPLIT: Math.max(4, sg / 2), REDUCE: 0, VEC: 2 },
        { WG: 64, ROWS: 2, KSPLIT: 32, REDUCE: 1, VEC: 1 },
        ...samplePoints(space, 3, matmulVec.defaults),
      ];
      for (const p of points) {
        assert.equal(matmulVec.reject(p, inst, g.limits), null, fmtParams(p));
        for (let N = 1; N <= 8; N++) {
          await check(g, matmulVec, inst, p, { M: 67, N, K: 131 }, 1e-5);
          await check(g, matmulVec, inst, p, { M: 40, N, K: 256 }, 1e-5);
        }
        await check(g, matmulVec, inst, p, { M: 1, N: 1, K: 3 }, 1e-5);
      }
    });
  }

  for (const inst of matmulCoopmat.instances) {
    it(`matmul.coopmat/${inst.key}`, async (t) => {
      const compiler = await findCompiler();
      const missing = missingExtensions(compiler, inst.requiresCompilerExtensions);
      const unsupported = instanceUnsupported(inst, g.limits);
      if (missing.length || unsupported) {
        t.skip(missing.length ? `compiler lacks ${missing.join(', ')}` : unsupported!);
        return;
      }
      const space = enumerateVariants(matmulCoopmat, inst, g.limits).kept;
      if (space.length === 0) {
        t.skip('no coopmat variant fits this device');
        return;
      }
      const def = matmulCoopmat.reject(matmulCoopmat.defaults, inst, g.limits) === null ? [matmulCoopmat.defaults] : [];
      for (const p of [...def, ...samplePoints(space, 4, matmulCoopmat.defaults)]) {
        // A and B are rounded to f16 by the kernel: the reference uses f16-rounded values of both.
        for (const s of SHAPES) await check(g, matmulCoopmat, inst, p, s, 1e-4, true);
      }
    });
  }
});
