/**
 * The HIP ports of the kernel families (templates/*.hip.hbs) vs the float64 references of the Vulkan
 * tests, on HIP / CUDA device 0 (test/support/hip-harness.ts; every GPU test skips with the reason where
 * hip.available() is not ok): matmul.vec (f32, f16, q8_0, q4_0; N = 1..8; the fused epilogues NORM,
 * GLU, NORM+GLU, RESIDUAL: NORM+RESIDUAL is not built by the HIP port), matmul.tile (same weights, ragged
 * shapes), attention.vec (f16 / f32 K/V, split-KV with its reduce pass (MERGE 0) and with the tile's last
 * split merging (MERGE 1), dynamic positions), rms_norm, rope_kv, swiglu, argmax (ties, NaN, many first-pass
 * blocks; a reduce launch (MERGE 0) or the last block reducing (MERGE 1)), matmul.coopmat (f16, q8_0, q4_0,
 * q4_k, q6_k on the device's matrix instruction, against the float64 product of the f16-rounded operands;
 * skipped with the reason on a device without one); the shapes and error bounds of
 * test/kernels-{matmul,attention,ops,coopmat}.test.ts. attention.vec and argmax run each plan twice on one
 * zeroed counters buffer, which must be zero again after the run (MERGE 1: zero on entry, zero on exit). Variants:
 * the HIP defaults, a few fixed points, 2 points sampled from the pruned HIP space at the device's wave
 * size; a (variant, shape) whose plan needs a dispatch point the variant rejects (attention.vec TPR > D/4)
 * is left out. Fresh random inputs per check; outputs (and scratch) poisoned with NaN first; q8_0 / q4_0
 * weights quantized by tuner/reference/quantize.ts and uploaded in the GPU layout.
 * Each variant is built with only the dispatch points (entries) its test shapes' plans need.
 * Without a device, where hiprtc is installed: the sources of the same variants (wave 64; 1 sampled point)
 * compile offline for gfx90a and each code object holds the entry of every plan step of every test shape.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { matrixUnsupported } from '../generator/hip/arch';
import { type HipFamily, hipFamily, hipInstance, hipInstances } from '../generator/hip/families';
import { type ArgmaxShape, type AttentionShape, type MatmulEpilogue, type MatmulShape, type QuantType, type RmsNormShape, type RopeKvShape, type SwigluShape, isKvQuantType } from '../generator/ops';
import type { Params, TemplateInstance } from '../generator/schema';
import { hip } from '../native/hip';
import { attentionReference } from '../tuner/reference/attention';
import { f16ToF32Array, toF16 } from '../tuner/reference/f16';
import { kvQuantize } from '../tuner/reference/kv-cache';
import { assertWithinQuantStep, untouchedRowsAndValues } from './support/kv-check';
import { matmulReference, relativeError } from '../tuner/reference/matmul';
import { argmaxReference, rmsNormReference, ropeKvReference, swigluReference } from '../tuner/reference/ops';
import { dequantize } from '../tuner/reference/quant';
import { quantize } from '../tuner/reference/quantize';
import { type HipGpu, type HipVariantSpec, type HostArray, closeHip, fmtParams, gpuWeights, neededDispatch, openHip, planEntries, planParams, randomF32, renderVariant, runHip, testPoints } from './support/hip-harness';

const { gpu, why } = openHip();
after(closeHip);

/** One family's test suite: variants (defaults + extra + sampled), shapes, and the check of one (variant, shape). */
interface Suite<S> {
  id: string;
  /** Extra fixed points at wavefront size w (over the HIP defaults; rejected ones are dropped). */
  extra: (w: number, inst: TemplateInstance) => Params[];
  shapes: (inst: TemplateInstance) => S[];
  /** The shape plan() is called with (default: the shape itself). */
  planShape?: (s: S) => unknown;
  /** Run and compare; false when the plan needs a dispatch point the variant rejects. */
  check: (g: HipGpu, v: HipVariantSpec, s: S) => boolean;
}

const norm2 = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0));
function expectClose(out: ArrayLike<number>, ref: ArrayLike<number>, bound: number, what: string): void {
  const err = relativeError(out, ref);
  assert.ok(err < bound, `${what}: rel err ${err} >= ${bound}`);
}
const label = (v: HipVariantSpec, s: unknown): string => `${v.hf.family.id}/${v.inst.key} ${fmtParams(v.params)} ${JSON.stringify(s)}`;

// ---- matmul.vec / matmul.tile ----
const quantOf = (inst: TemplateInstance): QuantType | null => (inst.key === 'q8_0' || inst.key === 'q4_0' ? inst.key : null);

/** Random weights [rows][K] of the instance's type: the bytes to upload and their float64 values. */
function weights(inst: TemplateInstance, rows: number, K: number): { upload: Float32Array | Uint16Array | Uint32Array; ref: ArrayLike<number> } {
  const a32 = randomF32(rows * K);
  const qt = quantOf(inst);
  if (qt) {
    const q = quantize(qt, a32);
    return { upload: gpuWeights(qt, q), ref: dequantize(qt, q, rows * K) };
  }
  if (inst.key === 'f16') {
    const h = toF16(a32);
    return { upload: h.bits, ref: h.values };
  }
  return { upload: a32, ref: a32 };
}

/** A matmul check: plain D = B A^T (bound 1e-5, || |A| |B|^T || denominator below 64 outputs) or a fused epilogue. */
function checkMatmul(g: HipGpu, v: HipVariantSpec, s: MatmulShape): boolean {
  const e: MatmulEpilogue = s.epilogue ?? {};
  const rowsA = e.glu ? 2 * s.M : s.M;
  const A = weights(v.inst, rowsA, s.K);
  const b32 = s.epilogue ? randomF32(s.N * s.K).map((x) => 3 * x) : randomF32(s.N * s.K);
  const g32 = randomF32(s.K);
  const d0 = randomF32(s.N * s.M);
  const inputs: Record<string, HostArray> = s.epilogue ? { A: A.upload, B: b32, G: g32 } : { A: A.upload, B: b32 };
  const out = runHip(g, v, s, inputs, { D: e.residual ? { init: d0 } : { bytes: 4 * s.N * s.M } });
  if (!out) return false;
  const d = new Float32Array(out.D);
  if (!s.epilogue) {
    const ref = matmulReference(s, A.ref, b32);
    const abs = (x: ArrayLike<number>) => Array.from(x, Math.abs);
    const err = ref.length >= 64 ? relativeError(d, ref) : relativeError(d, ref) * (norm2(ref) / norm2(matmulReference(s, abs(A.ref), abs(b32))));
    assert.ok(err < 1e-5, `${label(v, s)}: rel err ${err} >= 1e-5`);
    return true;
  }
  const bRef = e.norm ? rmsNormReference({ rows: s.N, cols: s.K, eps: e.norm.eps }, b32, g32) : b32;
  const prod = matmulReference({ M: rowsA, N: s.N, K: s.K }, A.ref, bRef);
  const ref = new Float64Array(s.N * s.M);
  for (let n = 0; n < s.N; n++)
    for (let m = 0; m < s.M; m++) {
      let y = prod[n * rowsA + m];
      if (e.glu) y = (y / (1 + Math.exp(-y))) * prod[n * rowsA + s.M + m];
      ref[n * s.M + m] = y + (e.residual ? d0[n * s.M + m] : 0);
    }
  expectClose(d, ref, 1e-5, label(v, s));
  return true;
}

const EPILOGUES: MatmulEpilogue[] = [{ norm: { eps: 1e-5 } }, { glu: true }, { norm: { eps: 1e-6 }, glu: true }, { residual: true }];
const matmulVecSuite: Suite<MatmulShape> = {
  id: 'matmul.vec',
  extra: (w, inst): Params[] => [
    { WG: 4 * w, RPT: 2, KSPLIT: 2 * w, REDUCE: 1, VEC: 1 },
    ...(quantOf(inst) ? [{ WG: 64, RPT: 4, KSPLIT: w, REDUCE: 0, VEC: 4, UNROLL: 2 }] : [{ WG: 64, RPT: 4, KSPLIT: w, REDUCE: 0, VEC: 4 }]),
  ],
  shapes: (inst) => {
    const q = !!quantOf(inst);
    const out: MatmulShape[] = [];
    for (let N = 1; N <= 8; N++) out.push({ M: 67, N, K: q ? 160 : 131 }, { M: 40, N, K: 256 });
    out.push(...(q ? [{ M: 1, N: 1, K: 32 }, { M: 3, N: 2, K: 1056 }] : [{ M: 1, N: 1, K: 3 }]));
    for (const K of q ? [96, 160] : [131, 128]) for (const N of [1, 3, 8]) for (const epilogue of EPILOGUES) out.push({ M: 37, N, K, epilogue });
    return out;
  },
  check: checkMatmul,
};

const matmulTileSuite: Suite<MatmulShape> = {
  id: 'matmul.tile',
  extra: () => [{ VEC: 1, SHMEM_PAD: 0 }],
  shapes: (inst) =>
    quantOf(inst)
      ? [{ M: 67, N: 13, K: 96 }, { M: 64, N: 32, K: 128 }, { M: 1, N: 1, K: 32 }, { M: 130, N: 37, K: 544 }, { M: 33, N: 70, K: 64 }]
      : [{ M: 67, N: 13, K: 131 }, { M: 64, N: 32, K: 128 }, { M: 1, N: 1, K: 1 }, { M: 130, N: 37, K: 512 }, { M: 33, N: 70, K: 36 }],
  check: checkMatmul,
};

// ---- matmul.coopmat (matrix cores; shapes of test/kernels-coopmat.test.ts) ----
const COOPMAT_QUANT: Record<string, QuantType> = { q8_0: 'q8_0', q4_0: 'q4_0', q4_k: 'q4_k', q6_k: 'q6_k' };
/**
 * The kernel rounds A (dequantized) and B to f16, so the reference multiplies the f16-rounded values in
 * float64 (as test/kernels-coopmat.test.ts): what is left is f32 accumulation order, bound 1e-4 relative
 * L2 (below 64 outputs relative to || |A| |B|^T ||). A wrong fragment layout, a swapped nibble or scale is
 * far outside it.
 */
function checkCoopmat(g: HipGpu, v: HipVariantSpec, s: MatmulShape): boolean {
  const a32 = randomF32(s.M * s.K);
  const b32 = randomF32(s.N * s.K);
  const qt = COOPMAT_QUANT[v.inst.key];
  let upload: Uint16Array | Uint32Array;
  let exact: ArrayLike<number>;
  if (qt) {
    const q = quantize(qt, a32);
    upload = gpuWeights(qt, q);
    exact = dequantize(qt, q, s.M * s.K);
  } else {
    const h = toF16(a32);
    upload = h.bits;
    exact = h.values;
  }
  const aRef = toF16(exact).values;
  const bRef = toF16(b32).values;
  const out = runHip(g, v, s, { A: upload, B: b32 }, { D: { bytes: 4 * s.N * s.M } });
  if (!out) return false;
  const d = new Float32Array(out.D);
  const bad = d.findIndex((x) => !Number.isFinite(x));
  assert.equal(bad, -1, `${label(v, s)}: D[${bad}] = ${d[bad]} (unwritten or non-finite)`);
  const ref = matmulReference(s, aRef, bRef);
  const abs = (x: ArrayLike<number>) => Array.from(x, Math.abs);
  const err = ref.length >= 64 ? relativeError(d, ref) : relativeError(d, ref) * (norm2(ref) / norm2(matmulReference(s, abs(aRef), abs(bRef))));
  assert.ok(err < 1e-4, `${label(v, s)}: rel err ${err} >= 1e-4`);
  return true;
}

const matmulCoopmatSuite: Suite<MatmulShape> = {
  id: 'matmul.coopmat',
  // one stage, BK 64, a 32 x 32 warp tile, BN 16 (one fragment column per wave)
  extra: (w): Params[] => [{ STAGES: 1 }, { BK: 64 }, { WG: 4 * w, BM: 64, BN: 64, WM: 2, WN: 2 }, { WG: 2 * w, BM: 128, BN: 16, WM: 2, WN: 1, STAGES: 1 }],
  shapes: (inst) =>
    inst.key === 'q4_k' || inst.key === 'q6_k'
      ? [{ M: 67, N: 9, K: 256 }, { M: 130, N: 33, K: 512 }, { M: 1, N: 1, K: 256 }, { M: 33, N: 70, K: 768 }, { M: 200, N: 515, K: 256 }]
      : COOPMAT_QUANT[inst.key]
        ? [{ M: 67, N: 13, K: 96 }, { M: 64, N: 32, K: 128 }, { M: 1, N: 1, K: 32 }, { M: 130, N: 37, K: 544 }, { M: 200, N: 515, K: 64 }]
        : [{ M: 67, N: 13, K: 131 }, { M: 64, N: 32, K: 128 }, { M: 1, N: 1, K: 1 }, { M: 130, N: 37, K: 520 }, { M: 33, N: 70, K: 36 }, { M: 200, N: 515, K: 72 }],
  check: checkCoopmat,
};

// ---- attention.vec (cases of test/kernels-attention.test.ts) ----
interface AttnCase {
  shape: AttentionShape;
  /** Decode replay: planned for a KV length of this window end, the real position in the step buffer. */
  dynamicWindow?: number;
}
const ac = (D: number, heads: number, kvHeads: number, queries: number, kvLength: number, causal: boolean, queryPos0?: number, kvStride?: number, dynamicWindow?: number): AttnCase => ({
  shape: { D, heads, kvHeads, queries, kvLength, causal, queryPos0: queryPos0 ?? (causal ? kvLength - queries : 0), kvStride: kvStride ?? kvLength + 5, scale: 1 / Math.sqrt(D) },
  dynamicWindow,
});
const ATTN_CASES: AttnCase[] = [
  ac(64, 4, 4, 1, 1, true),
  ac(128, 8, 2, 3, 300, true), // r = 4, 2 splits + reduce
  ac(16, 4, 1, 1, 37, false),
  ac(64, 8, 2, 3, 37, false),
  ac(16, 4, 1, 3, 300, true),
  ac(64, 8, 2, 1, 300, true),
  ac(128, 4, 4, 3, 300, false),
  ac(64, 4, 1, 3, 37, true, 36), // rows 1, 2 at positions >= kvLength
  ac(64, 8, 2, 1, 300, true, undefined, 520, 512), // dynamic: planned for 512, real length 300 / 1 / 64
  ac(64, 8, 2, 1, 1, true, undefined, 520, 512),
  ac(128, 4, 4, 2, 64, true, undefined, 256, 256),
];
const recorded = (c: AttnCase): AttentionShape =>
  c.dynamicWindow ? { ...c.shape, kvLength: c.dynamicWindow, queryPos0: c.dynamicWindow - c.shape.queries, dynamicPos: true } : c.shape;

function checkAttention(g: HipGpu, v: HipVariantSpec, c: AttnCase): boolean {
  const kvType = String(v.inst.defines.KV_TYPE);
  const kvF16 = kvType === 'f16';
  const s = c.shape;
  const qN = s.queries * s.heads * s.D;
  const kvN = s.kvHeads * s.kvStride * s.D;
  const q = randomF32(qN);
  // K/V rows past kvLength hold NaN (q8_0 / q4_0: NaN scales): a read past kvLength shows in O.
  const kv = (): { upload: Float32Array | Uint16Array | Uint32Array; ref: ArrayLike<number> } => {
    const x = randomF32(kvN);
    for (let h = 0; h < s.kvHeads; h++) x.fill(NaN, (h * s.kvStride + s.kvLength) * s.D, (h + 1) * s.kvStride * s.D);
    if (isKvQuantType(kvType)) {
      const r = kvQuantize(kvType, x, s.kvHeads * s.kvStride, s.D, (row) => row % s.kvStride < s.kvLength);
      return { upload: new Uint32Array(r.bytes.buffer), ref: r.values };
    }
    const h16 = toF16(x);
    return kvF16 ? { upload: h16.bits, ref: h16.values } : { upload: x, ref: x };
  };
  const K = kv();
  const V = kv();
  // twice on one counters buffer (runHip checks it is zero after): MERGE 1's second launch finds what the first left
  const out = runHip(g, v, recorded(c), { Q: q, K: K.upload, V: V.upload, step: Uint32Array.of(s.queryPos0, 0, 0, 0) }, { O: { bytes: 4 * qN } }, undefined, 2);
  if (!out) return false;
  const o = new Float32Array(out.O);
  assert.equal(o.findIndex(Number.isNaN), -1, `${label(v, c)}: NaN in O`);
  expectClose(o, attentionReference(s, q, K.ref, V.ref), kvF16 ? 1e-3 : 1e-5, label(v, c));
  return true;
}

const attentionSuite: Suite<AttnCase> = {
  id: 'attention.vec',
  // The parameter points of the Vulkan cases (KV_CHUNK 16 / 64: many splits and empty ones), with the reduce
  // launch (MERGE 0, the defaults') and with the last split merging (MERGE 1: 19 splits of 300 rows at KV_CHUNK 16).
  extra: (): Params[] => [
    { WG: 32, TPR: 4, ROWS: 1, KV_CHUNK: 16, GQA_PACK: 0, SG_REDUCE: 1 },
    { WG: 128, TPR: 2, ROWS: 2, KV_CHUNK: 128, SG_REDUCE: 1 },
    { WG: 64, TPR: 16, ROWS: 2, KV_CHUNK: 128 },
    { KV_CHUNK: 16 },
    { KV_CHUNK: 64 },
    { WG: 64, TPR: 8, ROWS: 4, KV_CHUNK: 128, KVU: 4, SG_REDUCE: 0 },
    { WG: 32, TPR: 4, ROWS: 2, KV_CHUNK: 64, KVU: 2, SG_REDUCE: 1, GQA_PACK: 0 },
    { KV_CHUNK: 16, MERGE: 1 },
    { WG: 32, TPR: 4, ROWS: 1, KV_CHUNK: 16, GQA_PACK: 0, SG_REDUCE: 1, MERGE: 1 },
    { WG: 128, TPR: 2, ROWS: 2, KV_CHUNK: 128, SG_REDUCE: 1, MERGE: 1 },
    { WG: 32, TPR: 4, ROWS: 2, KV_CHUNK: 64, KVU: 2, SG_REDUCE: 1, GQA_PACK: 0, MERGE: 1 },
  ],
  shapes: (inst) => ATTN_CASES.filter((c) => !isKvQuantType(String(inst.defines.KV_TYPE)) || c.shape.D % 32 === 0),
  planShape: recorded,
  check: (g, v, c) => checkAttention(g, v, c) && checkAttention(g, v, c),
};

// ---- rms_norm, rope_kv, swiglu (test/kernels-ops.test.ts) ----
const rmsNormSuite: Suite<RmsNormShape> = {
  id: 'rms_norm',
  extra: () => [],
  shapes: () => [{ rows: 3, cols: 67, eps: 1e-5 }, { rows: 5, cols: 512, eps: 1e-6 }, { rows: 1, cols: 1, eps: 1e-5 }],
  check: (g, v, s) => {
    const x = randomF32(s.rows * s.cols);
    const w = randomF32(s.cols);
    const out = runHip(g, v, s, { X: x, W: w }, { Y: { bytes: 4 * x.length } });
    if (!out) return false;
    expectClose(new Float32Array(out.Y), rmsNormReference(s, x, w), 1e-5, label(v, s));
    return true;
  },
};

interface RopeCase {
  s: RopeKvShape;
  fused: boolean;
  /** The real position (the step buffer's; dynamic shapes record pos0 0 on purpose). */
  pos: number;
}
const ROPE_GEOS = [
  { tokens: 3, heads: 4, kvHeads: 2, D: 64, pos0: 7, kvStride: 16, fused: true },
  { tokens: 1, heads: 3, kvHeads: 1, D: 18, pos0: 15, kvStride: 16, fused: false },
  { tokens: 2, heads: 2, kvHeads: 2, D: 8, pos0: 0, kvStride: 4, fused: true },
];
const ropeSuite: Suite<RopeCase> = {
  id: 'rope_kv',
  extra: () => [],
  shapes: (inst) =>
    (['adjacent', 'neox'] as const).flatMap((mode) =>
      ROPE_GEOS.filter((geo) => !isKvQuantType(inst.key) || geo.D % 32 === 0).flatMap(({ fused, ...dims }) =>
        [false, true].map((dynamicPos): RopeCase => {
          const qDim = dims.heads * dims.D;
          const kvDim = dims.kvHeads * dims.D;
          const row = qDim + 2 * kvDim;
          const s: RopeKvShape = {
            ...dims, base: 10000, mode, dynamicPos, ...(dynamicPos ? { pos0: 0 } : {}),
            qStride: fused ? row : qDim, kStride: fused ? row : kvDim, vStride: fused ? row : kvDim,
            qOffset: 0, kOffset: fused ? qDim : 0, vOffset: fused ? qDim + kvDim : 0,
          };
          return { s, fused, pos: dims.pos0 };
        }),
      ),
    ),
  planShape: (c) => c.s,
  check: (g, v, { s, fused, pos }) => {
    const qDim = s.heads * s.D;
    const kvDim = s.kvHeads * s.D;
    const qkv = randomF32(s.tokens * (qDim + 2 * kvDim));
    const qs = fused ? qkv : randomF32(s.tokens * qDim);
    const ks = fused ? qkv : randomF32(s.tokens * kvDim);
    const vs = fused ? qkv : randomF32(s.tokens * kvDim);
    const kvType = v.inst.key;
    if (isKvQuantType(kvType)) {
      // the written rows against the rope reference within the quantization (q8_0: half a step of max|x| / 127
      // plus the scale's f16 rounding; q4_0: a step of max|x| / 8), every other row byte-identical
      const rows = s.kvHeads * s.kvStride;
      const k0 = kvQuantize(kvType, randomF32(rows * s.D), rows, s.D).bytes, v0 = kvQuantize(kvType, randomF32(rows * s.D), rows, s.D).bytes;
      const out = runHip(g, v, s, { Qsrc: qs, Ksrc: ks, Vsrc: vs, step: Uint32Array.of(pos, 0, 0, 0) },
        { Q: { bytes: 4 * s.tokens * qDim }, Kcache: { init: new Uint32Array(k0.slice().buffer) }, Vcache: { init: new Uint32Array(v0.slice().buffer) } });
      if (!out) return false;
      const ref = ropeKvReference(s, { q: qs, k: ks, v: vs }, { k: new Float64Array(rows * s.D), v: new Float64Array(rows * s.D) }, pos);
      expectClose(new Float32Array(out.Q), ref.q, 2e-5, `${label(v, s)} Q`);
      const written = (r: number) => r % s.kvStride >= pos && r % s.kvStride < pos + s.tokens;
      for (const [name, got, want, before] of [['K', out.Kcache, ref.kCache, k0], ['V', out.Vcache, ref.vCache, v0]] as const) {
        const { bytes, values } = untouchedRowsAndValues(kvType, got, before, rows, s.D, written, `${label(v, s)} ${name}`);
        assertWithinQuantStep(kvType, bytes, values, want, rows, s.D, written, `${label(v, s)} ${name}`);
      }
      return true;
    }
    const f16 = kvType === 'f16';
    const cache = () => {
      const c = randomF32(s.kvHeads * s.kvStride * s.D);
      const h = toF16(c);
      return f16 ? { init: h.bits, ref: h.values } : { init: c, ref: c };
    };
    const kc = cache();
    const vc = cache();
    const out = runHip(g, v, s, { Qsrc: qs, Ksrc: ks, Vsrc: vs, step: Uint32Array.of(pos, 0, 0, 0) }, { Q: { bytes: 4 * s.tokens * qDim }, Kcache: { init: kc.init }, Vcache: { init: vc.init } });
    if (!out) return false;
    const ref = ropeKvReference(s, { q: qs, k: ks, v: vs }, { k: kc.ref, v: vc.ref }, pos, f16 ? (x) => toF16([x]).values[0] : undefined);
    const read = (b: ArrayBuffer) => (f16 ? f16ToF32Array(new Uint16Array(b)) : new Float32Array(b));
    expectClose(new Float32Array(out.Q), ref.q, 2e-5, `${label(v, s)} Q`);
    expectClose(read(out.Kcache), ref.kCache, f16 ? 1e-3 : 2e-5, `${label(v, s)} K`);
    expectClose(read(out.Vcache), ref.vCache, f16 ? 1e-3 : 1e-7, `${label(v, s)} V`);
    return true;
  },
};

interface SwigluCase {
  s: SwigluShape;
  fused: boolean;
}
const swigluSuite: Suite<SwigluCase> = {
  id: 'swiglu',
  extra: () => [],
  shapes: () =>
    [[1, 1], [3, 1000], [1, 4099]].flatMap(([rows, width]) => [
      { s: { rows, width, gStride: 2 * width, uStride: 2 * width, gOffset: 0, uOffset: width }, fused: true },
      { s: { rows, width, gStride: width, uStride: width, gOffset: 0, uOffset: 0 }, fused: false },
    ]),
  planShape: (c) => c.s,
  check: (g, v, { s, fused }) => {
    const gg = randomF32(s.rows * (fused ? 2 : 1) * s.width).map((x) => 8 * x);
    const u = fused ? gg : randomF32(s.rows * s.width);
    const out = runHip(g, v, s, { G: gg, U: u }, { Y: { bytes: 4 * s.rows * s.width } });
    if (!out) return false;
    expectClose(new Float32Array(out.Y), swigluReference(s, gg, u), 1e-5, label(v, s));
    return true;
  },
};

// ---- argmax (cases of test/kernels-ops.test.ts, plus first passes of many blocks) ----
interface ArgmaxCase {
  what: string;
  x: () => Float32Array;
  n: number;
}
const argmaxCase = (what: string, n: number, make: (x: Float32Array) => void = () => {}): ArgmaxCase => ({
  what,
  n,
  x: () => {
    const x = randomF32(n);
    make(x);
    return x;
  },
});
const ARGMAX_CASES: ArgmaxCase[] = [
  { what: 'one element', n: 1, x: () => Float32Array.of(0.5) },
  argmaxCase('random 1000', 1000),
  argmaxCase('random 20000', 20000),
  argmaxCase('ties -> smallest index', 3000, (x) => [2500, 1700, 2999].forEach((i) => (x[i] = 5))),
  argmaxCase('NaN ignored', 777, (x) => ((x[3] = NaN), (x[500] = 3))),
  { what: 'all -inf', n: 300, x: () => new Float32Array(300).fill(-Infinity) },
  { what: 'all NaN (every block empty) -> 0', n: 5000, x: () => new Float32Array(5000).fill(NaN) },
  // ties in different first-pass blocks; 300000: more blocks than the 1024 cap at small WG * ITEMS
  argmaxCase('ties across blocks', 100_000, (x) => [99_999, 40_000, 77_777].forEach((i) => (x[i] = 5))),
  argmaxCase('random 300000', 300_000),
];
const argmaxSuite: Suite<ArgmaxCase> = {
  id: 'argmax',
  extra: (): Params[] => [{ MERGE: 0 }, { MERGE: 1 }, { WG: 64, ITEMS: 4, MERGE: 1 }, { WG: 1024, ITEMS: 4, MERGE: 1 }, { WG: 256, ITEMS: 32, MERGE: 0 }],
  shapes: () => ARGMAX_CASES,
  planShape: (c): ArgmaxShape => ({ n: c.n }),
  check: (g, v, c) => {
    const x = c.x();
    const s: ArgmaxShape = { n: c.n };
    // twice on one counters buffer (runHip checks it is zero after), out poisoned with NaN bits first
    const out = runHip(g, v, s, { X: x }, { out: { bytes: 4 } }, undefined, 2);
    if (!out) return false;
    assert.equal(new Uint32Array(out.out)[0], argmaxReference(s, x), `${label(v, s)} ${c.what}`);
    return true;
  },
};

/** Suites and the instances each tests. */
const SUITES: Array<{ suite: Suite<any>; instances: string[] }> = [
  { suite: matmulVecSuite, instances: ['f32', 'f16', 'q8_0', 'q4_0'] },
  { suite: matmulTileSuite, instances: ['f32', 'f16', 'q8_0', 'q4_0'] },
  { suite: matmulCoopmatSuite, instances: ['f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] },
  { suite: attentionSuite, instances: ['f16', 'f32', 'q8_0', 'q4_0'] },
  { suite: rmsNormSuite, instances: ['f32'] },
  { suite: ropeSuite, instances: ['f32', 'f16', 'q8_0', 'q4_0'] },
  { suite: swigluSuite, instances: ['f32'] },
  { suite: argmaxSuite, instances: ['f32'] },
];

/** The variants a suite tests on `inst`, each built with only the dispatch points its shapes need (compile time). */
function variantsOf(hf: HipFamily, suite: Suite<any>, inst: TemplateInstance, wave: number, lds: number, sampled = 2): HipVariantSpec[] {
  const planned = suite.shapes(inst).map((s) => (suite.planShape ? suite.planShape(s) : s));
  // sampled points run on some test shape (e.g. a q8_0 attention point whose registers only fit head dims below 32 would not)
  const runs = (params: Params) => planned.some((s) => !('rejected' in planEntries({ hf, inst, params }, hf.family.plan(s, planParams({ hf, inst, params }), inst), wave)));
  return testPoints(hf, inst, wave, lds, suite.extra(wave, inst), sampled, runs).map((params) => {
    const dispatch = Object.keys(hf.dispatch).length ? neededDispatch({ hf, inst, params }, planned, wave) : undefined;
    return { hf, inst, params, dispatch: dispatch?.length ? dispatch : undefined };
  });
}

describe('HIP kernels vs float64 references', { skip: gpu ? false : why }, () => {
  for (const { suite, instances } of SUITES) {
    const hf = hipFamily(suite.id);
    for (const key of instances) {
      it(`${suite.id}/${key}: defaults, fixed and sampled points`, (t) => {
        const g = gpu as HipGpu;
        const inst = hipInstance(hf, key);
        const noMatrix = hf.matrix ? matrixUnsupported(g.ctx.device.arch, g.wave) : null;
        if (noMatrix) {
          t.skip(`${suite.id}: ${noMatrix}`);
          return;
        }
        for (const v of variantsOf(hf, suite, inst, g.wave, g.lds)) {
          // KPACK_TEST_PROGRESS=1: a line per variant on stderr as it starts and as it ends (a long NVRTC compile
          // or a hung kernel has a name, and the verdict is on record even if the run is killed before it reports)
          const progress = process.env.KPACK_TEST_PROGRESS ? (m: string) => console.error(`hip-kernels: ${suite.id}/${key} ${fmtParams(v.params)}${m}`) : null;
          progress?.('');
          let ran = 0;
          let left = 0;
          try {
            for (const s of suite.shapes(inst)) (suite.check(g, v, s) ? ran++ : left++);
          } catch (e) {
            progress?.(` FAIL: ${(e as Error).message.split('\n')[0]}`);
            throw e;
          }
          progress?.(` ok: ${ran} shapes`);
          if (left) t.diagnostic(`${fmtParams(v.params)}: ${left} shapes left out (dispatch point rejected), ${ran} checked`);
          // Only attention.vec (TPR > D/4 at small D) may leave shapes out; every variant runs some.
          assert.ok(ran > 0 && (left === 0 || suite === attentionSuite), `${suite.id}/${key} ${fmtParams(v.params)}: ${ran} shapes checked, ${left} left out`);
        }
      });
    }
  }
});

const rtc = hip.available().hiprtc;
describe('HIP kernel sources compile offline for gfx90a (hiprtc), with the entry of every plan step', { skip: rtc.ok ? false : `hiprtc unavailable: ${rtc.reason}` }, () => {
  const WAVE = 64;
  for (const { suite, instances } of SUITES) {
    const hf = hipFamily(suite.id);
    it(`${suite.id} (${instances.join(', ')}): defaults, fixed points, 1 sampled point`, (t) => {
      assert.deepEqual(instances.filter((k) => !hipInstances(hf).some((i) => i.key === k)), [], 'instances without a HIP port');
      let sources = 0;
      for (const key of instances) {
        const inst = hipInstance(hf, key);
        for (const v of variantsOf(hf, suite, inst, WAVE, 65536, 1)) {
          const r = renderVariant(v, WAVE);
          const bin = hip.compile(r.source, { api: 'hip', arch: 'gfx90a', warpSize: WAVE, name: `${suite.id}_${key}.hip` });
          assert.equal(bin.format, 'hsaco');
          const image = Buffer.from(bin.binary.buffer, bin.binary.byteOffset, bin.binary.byteLength);
          const names = new Set(r.entries.map((e) => e.name));
          let planned = 0;
          for (const s of suite.shapes(inst)) {
            const plan = hf.family.plan(suite.planShape ? suite.planShape(s) : s, planParams(v), inst);
            const pe = planEntries(v, plan, WAVE);
            if ('rejected' in pe) continue;
            planned++;
            for (const e of pe.entries) {
              assert.ok(names.has(e), `${label(v, s)}: entry ${e} not rendered`);
              assert.ok(image.includes(Buffer.from(`${e}\0`)), `${label(v, s)}: entry ${e} missing from the code object`);
            }
          }
          assert.ok(planned > 0, `${suite.id}/${key} ${fmtParams(v.params)}: no test shape runs on it`);
          sources++;
        }
      }
      t.diagnostic(`${sources} sources compiled`);
    });
  }
});
