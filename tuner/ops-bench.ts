/**
 * `kpack bench-ops`' core: the ANCHORS.md cases (tuner/anchors.ts) timed with the kernels inference
 * would use, beside the anchor figures and the device's roofline measured in the same run.
 *
 * Per row: the op's shape (optionally scaled down, scaleAnchor), the variant chosen through the loaded
 * packs with the request fields the Llama graph uses (runtime/model/llama.ts matmul() and
 * attentionRequest(); pass the runtime's KernelSet as the VariantChooser), fresh random inputs rotated
 * through several sets when small (bench-inputs.ts), a heat-up on GPUs (timing.ts heatUp: the row's
 * kernel until its time is stable over several windows, as under a running model's sustained load), and
 * timeVariant's protocol (GPU timestamps after a 30 ms warm-up, median of many repetitions). Rows kpack cannot run (a K/V type no family has, a shape
 * the chosen family does not support, a variant the device rejects) come back `unsupported` with the
 * reason instead of failing the run.
 *
 * Roofline (Williams, Waterman & Patterson, CACM 2009): GEMV (N <= 8) and decode attention (<= 8 query
 * rows) are memory-bound; their floor is the workload's minimum bytes (tuner/workloads.ts) over a copy
 * rate, both ANCHORS.md's 4.3 TB/s and the best copy rate measured here (tuner/roofline.ts). GEMM and
 * prefill attention are compute-bound; their floor is FLOPs over the measured GEMM peak (the best FLOP
 * rate of the chosen f16 matmul at a large square shape and of the GEMM rows of the run). % of floor =
 * 100 * floor time / measured time.
 */
import { familiesForOp, familyById } from '../generator/families';
import { VEC_NMAX } from '../generator/families/matmul_vec';
import { deviceLimits } from '../generator/device-limits';
import type { LaunchableVariant, PipelineCache } from '../generator/launch';
import type { AttentionShape, CopyShape, KvType, MatmulShape } from '../generator/ops';
import { type DeviceLimits, type DispatchStep, type Params, variantSupports } from '../generator/schema';
import type { Context } from '../native/vulkan/api';
import { ANCHOR_COPY_BYTES_PER_S, type Anchor, anchorLabel, bestAnchorUs } from './anchors';
import { allocBenchBuffers, type BenchTensor } from './bench-inputs';
import { type CopyRate, cmdCopyBuffer, copyBytesFor, copyKernelCopiers, measureCopyRates } from './roofline';
import { mulberry32 } from './search/index';
import { type HeatOptions, type TimingOptions, heatUp, timeVariant } from './timing';
import { DECODE_MAX_QUERIES, KV_STRIDE_ALIGN, attentionWorkload, matmulWorkload } from './workloads';

/** A kernel request as runtime/kernels.ts KernelRequest has it (op, instance, shape, shape key, batch, depth). */
export interface OpRequest {
  op: 'matmul' | 'attention' | 'copy';
  instance: string;
  shape: MatmulShape | AttentionShape | CopyShape;
  /** Shape fields identifying the tuned shape ({M, K} matmul, {D, heads, kvHeads} attention), null untuned. */
  shapeKey: Record<string, number> | null;
  /** N (matmul) or query rows (attention); 1 otherwise. */
  batch: number;
  /** queryPos0 for attention, else 0. */
  depth: number;
}

/** What picks variants from the loaded packs: the runtime's KernelSet fits. */
export interface VariantChooser {
  readonly pipelines: PipelineCache;
  /** @throws Error when no loaded pack has the op and instance. */
  choose(req: OpRequest): { variant: LaunchableVariant<any>; level: string; packName: string };
}

/** A row ready to time: what it is, the anchor it comes from (null for the GEMM peak) and its shape. */
export type PlannedRow = { label: string; anchor: Anchor | null; scale: number } & (
  | { op: 'matmul'; instance: string; shape: MatmulShape }
  | { op: 'attention'; instance: string; shape: AttentionShape }
);

/** Round x / f to a multiple of `step`, at least `step`. */
const scaleTo = (x: number, f: number, step: number): number => Math.max(step, Math.round(x / f / step) * step);

/**
 * The row of an anchor at `scale` (a positive integer; 1 = the anchor's own shape). Scaled: M / scale
 * rounded to a multiple of 64, K / scale to a multiple of 256 (legal for every block type), kv / scale;
 * N stays (it picks GEMV or GEMM) and so do decode query counts (nb <= 8); larger nb / scale, at least 9
 * and at most the scaled kv. Attention: heads = nh * r, kvHeads = nh, queries = nb, kvLength = kv,
 * queryPos0 = kv - nb, kvStride = kv rounded up to 256 (tuner/workloads.ts), scale 1/sqrt(D).
 * @throws RangeError when scale is not a positive integer.
 */
export function scaleAnchor(a: Anchor, scale: number): PlannedRow {
  if (!(Number.isInteger(scale) && scale >= 1)) throw new RangeError(`scale ${scale} is not a positive integer`);
  const label = anchorLabel(a);
  if (a.op === 'matmul') {
    const shape = scale === 1 ? { M: a.m, N: a.n, K: a.k } : { M: scaleTo(a.m, scale, 64), N: a.n, K: scaleTo(a.k, scale, 256) };
    return { label, anchor: a, scale, op: 'matmul', instance: a.type, shape };
  }
  let kv = Math.max(1, Math.round(a.kv / scale));
  const nb = a.nb <= DECODE_MAX_QUERIES ? a.nb : Math.min(Math.max(DECODE_MAX_QUERIES + 1, Math.round(a.nb / scale)), a.causal ? Infinity : kv);
  kv = Math.max(kv, nb);
  const shape: AttentionShape = {
    D: a.D,
    heads: a.nh * a.r,
    kvHeads: a.nh,
    queries: nb,
    kvLength: kv,
    kvStride: Math.ceil(kv / KV_STRIDE_ALIGN) * KV_STRIDE_ALIGN,
    queryPos0: kv - nb,
    causal: a.causal,
    scale: 1 / Math.sqrt(a.D),
  };
  return { label, anchor: a, scale, op: 'attention', instance: a.kvType, shape };
}

/** The GEMM-peak row: f16 weights, M = N = K = 4096 / scale rounded to a multiple of 256 (at least 256). */
export function gemmPeakRow(scale: number): PlannedRow {
  const S = scaleTo(4096, scale, 256);
  return { label: `gemm peak f16 ${S}x${S}x${S}`, anchor: null, scale, op: 'matmul', instance: 'f16', shape: { M: S, N: S, K: S } };
}

/** The request runtime/model/llama.ts makes for a row: matmul keyed by {M, K} at batch N; attention by {D, heads, kvHeads} at batch queries, depth queryPos0. */
export function requestFor(row: PlannedRow): OpRequest {
  if (row.op === 'matmul') return { op: 'matmul', instance: row.instance, shape: row.shape, shapeKey: { M: row.shape.M, K: row.shape.K }, batch: row.shape.N, depth: 0 };
  const s = row.shape;
  return { op: 'attention', instance: row.instance, shape: s, shapeKey: { D: s.D, heads: s.heads, kvHeads: s.kvHeads }, batch: s.queries, depth: s.queryPos0 };
}

/** Roofs a row is compared with: copy rates (bytes/s, read + write) and the GEMM peak (FLOP/s). */
export interface Roofs {
  anchorCopyBytesPerS: number;
  measuredCopyBytesPerS: number;
  gemmPeakFlopsPerS: number | null;
}

/** One row's outcome. Times in us; null where a figure does not apply (e.g. anchors of a scaled row). */
export interface RowResult {
  label: string;
  op: 'matmul' | 'attention';
  /** Weight type (matmul) or K/V type (attention). */
  type: string;
  shape: MatmulShape | AttentionShape;
  scale: number;
  status: 'ok' | 'unsupported';
  /** Why the row did not run (status unsupported). */
  reason?: string;
  us: number | null;
  /** 95% CI of the median, us. */
  ciUs: [number, number] | null;
  reps: number | null;
  /** Anchors (scale 1 only). */
  anchorVulkanUs: number | null;
  anchorCudaUs: number | null;
  /** Faster anchor / ours: > 1 means kpack wins. */
  ratio: number | null;
  flops: number;
  /** Minimum bytes moved (tuner/workloads.ts). */
  bytes: number;
  tflops: number | null;
  gbps: number | null;
  bound: 'memory' | 'compute';
  /** Memory floor at ANCHORS.md's 4.3 TB/s and % of it reached (memory-bound rows). */
  anchorFloorUs: number | null;
  pctAnchorFloor: number | null;
  /** Memory floor at the copy rate measured in this run and % of it reached (memory-bound rows). */
  copyFloorUs: number | null;
  pctCopyFloor: number | null;
  /** FLOPs / measured GEMM peak and % of it reached (compute-bound rows). */
  peakFloorUs: number | null;
  pctGemmPeak: number | null;
  /** The variant that served the row: family, instance, parameters, selection level, pack name. */
  family: string | null;
  instance: string | null;
  params: Record<string, number> | null;
  level: string | null;
  pack: string | null;
}

function boundOf(row: PlannedRow): 'memory' | 'compute' {
  return row.op === 'matmul' ? (row.shape.N <= VEC_NMAX ? 'memory' : 'compute') : row.shape.queries <= DECODE_MAX_QUERIES ? 'memory' : 'compute';
}

/** Why the loaded packs or the device cannot run the row, or null; also the chosen variant. */
function chooseOrExplain(ctx: Context, chooser: VariantChooser, row: PlannedRow): { why: string } | { chosen: ReturnType<VariantChooser['choose']> } {
  const withInstance = familiesForOp(row.op).filter((f) => f.instances.some((i) => i.key === row.instance));
  if (withInstance.length === 0) {
    const known = [...new Set(familiesForOp(row.op).flatMap((f) => f.instances.map((i) => i.key)))].join(', ');
    return { why: `no ${row.op} kernel family has a ${row.instance} ${row.op === 'attention' ? 'K/V ' : ''}instance (kpack has ${known})` };
  }
  let chosen: ReturnType<VariantChooser['choose']>;
  try {
    chosen = chooser.choose(requestFor(row));
  } catch (e) {
    return { why: (e as Error).message };
  }
  const { family, instance } = chosen.variant;
  if (!variantSupports(family, row.shape, chosen.variant.params, instance)) return { why: `${family.id}/${instance.key} (selected at level ${chosen.level} from ${chosen.packName}) does not support this shape` };
  const why = cannotRun(chosen.variant, row.shape, deviceLimits(ctx.device));
  if (why) return { why: `${why.family} (selected at level ${chosen.level}) cannot run on this device: ${why.reason}` };
  return { chosen };
}

/**
 * Why a variant cannot run a shape on a device (its family's reject() of the parameters each main plan
 * step's pipeline gets, e.g. attention's D pinned to the shape's), or null. Auxiliary passes (steps whose
 * specOverrides set a nonzero PASS: split-K reduce, B conversion, ...) are left out: their plan() pins
 * parameters of its own that the main pass's rules do not describe (matmul.coopmat pins WM = WN = 1 and
 * keeps WG, which its tile rule WG = WM * WN * subgroup would reject).
 * @returns the variant's "family/instance params" and the reason, or null when every main step passes.
 */
export function cannotRun(variant: LaunchableVariant<any>, shape: unknown, limits: DeviceLimits): { family: string; reason: string } | null {
  const { family, instance, params } = variant;
  for (const step of family.plan(shape, params, instance).steps) {
    if (step.specOverrides?.PASS) continue;
    const p = effectiveParams(variant, step);
    const reason = family.reject(p, instance, limits);
    if (reason) return { family: `${family.id}/${instance.key} ${formatParams(p)}`, reason };
  }
  return null;
}

/** The parameters a plan step's pipeline gets: the variant's, with the step's spec overrides (e.g. attention's D = shape.D). */
function effectiveParams(variant: LaunchableVariant<any>, step: DispatchStep): Params {
  return { ...variant.params, ...step.specOverrides };
}

/** "WG=64,TPR=8" for reports. */
export function formatParams(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Input tensors and output bytes of a row (generator/ops.ts bindings). */
function tensorsOf(row: PlannedRow): { inputs: BenchTensor[]; outputs: Record<string, number> } {
  if (row.op === 'matmul') {
    const { M, N, K } = row.shape;
    return { inputs: [{ name: 'A', dtype: row.instance as MatmulDtype, elems: M * K }, { name: 'B', dtype: 'f32', elems: N * K }], outputs: { D: 4 * N * M } };
  }
  const s = row.shape;
  const kv = { dtype: row.instance as KvType, elems: s.kvHeads * s.kvStride * s.D, kvD: s.D };
  return { inputs: [{ name: 'Q', dtype: 'f32', elems: s.queries * s.heads * s.D }, { name: 'K', ...kv }, { name: 'V', ...kv }], outputs: { O: 4 * s.queries * s.heads * s.D } };
}
type MatmulDtype = BenchTensor['dtype'];

/**
 * Time one row (module doc) and compare it with its anchor and the roofs (withFloors; runOpsBench
 * recomputes the compute floors once the run's GEMM peak is known).
 * @throws Error from the native layer (allocation, pipeline creation, submission); unsupported rows do not throw.
 */
export function benchRow(ctx: Context, chooser: VariantChooser, row: PlannedRow, roofs: Roofs, opts: { timing?: TimingOptions; heat?: HeatOptions; seed?: number } = {}): RowResult {
  const bound = boundOf(row);
  const work = row.op === 'matmul' ? matmulWorkload(row.instance as MatmulDtype, row.shape) : attentionWorkload(row.instance as KvType, row.shape);
  const anchor = row.anchor && row.scale === 1 ? row.anchor : null;
  const base: RowResult = {
    label: row.label,
    op: row.op,
    type: row.instance,
    shape: row.shape,
    scale: row.scale,
    status: 'unsupported',
    us: null,
    ciUs: null,
    reps: null,
    anchorVulkanUs: anchor?.vulkanUs ?? null,
    anchorCudaUs: anchor?.cudaUs ?? null,
    ratio: null,
    flops: work.flops,
    bytes: work.minBytes,
    tflops: null,
    gbps: null,
    bound,
    anchorFloorUs: null,
    pctAnchorFloor: null,
    copyFloorUs: null,
    pctCopyFloor: null,
    peakFloorUs: null,
    pctGemmPeak: null,
    family: null,
    instance: null,
    params: null,
    level: null,
    pack: null,
  };
  const pick = chooseOrExplain(ctx, chooser, row);
  if ('why' in pick) return { ...base, reason: pick.why };
  const { variant, level, packName } = pick.chosen;
  const plan = variant.family.plan(row.shape, variant.params, variant.instance);
  const served = { family: variant.family.id, instance: variant.instance.key, params: effectiveParams(variant, plan.steps[0]), level, pack: packName };
  const { inputs, outputs } = tensorsOf(row);
  const scratchBytes = plan.scratchBytes;
  const buffers = allocBenchBuffers(ctx, inputs, outputs, { scratchBytes, rng: mulberry32(opts.seed ?? 1) });
  try {
    heatUp(ctx, chooser.pipelines, variant, row.shape, buffers.sets, opts.heat);
    const t = timeVariant(ctx, chooser.pipelines, variant, row.shape, buffers.sets, opts.timing);
    const us = t.medianNs / 1e3;
    return withFloors(
      { ...base, ...served, status: 'ok', us, ciUs: [t.ciLowNs / 1e3, t.ciHighNs / 1e3], reps: t.n, ratio: anchor ? bestAnchorUs(anchor) / us : null, tflops: work.flops / us / 1e6, gbps: work.minBytes / us / 1e3 },
      roofs,
    );
  } finally {
    buffers.destroy();
  }
}

/**
 * A measured row with its floors against `roofs` (module doc): memory-bound rows get the floors at both
 * copy rates, compute-bound rows the floor at the GEMM peak (null while the peak is unknown). Rows
 * without a time are returned unchanged.
 */
export function withFloors(r: RowResult, roofs: Roofs): RowResult {
  if (r.us === null) return r;
  const us = r.us;
  const pct = (floorUs: number | null) => (floorUs === null ? null : (100 * floorUs) / us);
  const memory = r.bound === 'memory';
  const anchorFloorUs = memory ? (r.bytes / roofs.anchorCopyBytesPerS) * 1e6 : null;
  const copyFloorUs = memory ? (r.bytes / roofs.measuredCopyBytesPerS) * 1e6 : null;
  const peakFloorUs = !memory && roofs.gemmPeakFlopsPerS ? (r.flops / roofs.gemmPeakFlopsPerS) * 1e6 : null;
  return { ...r, anchorFloorUs, pctAnchorFloor: pct(anchorFloorUs), copyFloorUs, pctCopyFloor: pct(copyFloorUs), peakFloorUs, pctGemmPeak: pct(peakFloorUs) };
}

/**
 * Copy rates of this device: vkCmdCopyBuffer and every copy-kernel variant the device accepts (the
 * family's parameter space, its SPIR-V taken from the variant the chooser returns for op "copy"), each
 * on `bytes` (default 1 GiB, far above any L2; 64 MiB on CPU devices; capped by copyBytesFor) after a
 * 30 ms warm-up, 10 timed copies.
 * @returns the rates, fastest first.
 */
export function measureDeviceCopy(ctx: Context, chooser: VariantChooser, opts: { bytes?: number } = {}): CopyRate[] {
  const bytes = copyBytesFor(ctx.device, opts.bytes ?? (ctx.device.deviceType === 'cpu' ? undefined : 2 ** 30));
  const base = chooser.choose({ op: 'copy', instance: 'u32', shape: { bytes }, shapeKey: null, batch: 1, depth: 0 }).variant as LaunchableVariant<CopyShape>;
  const kernels = copyKernelCopiers({ ...base, family: familyById('copy') }, deviceLimits(ctx.device), chooser.pipelines);
  return measureCopyRates(ctx, [cmdCopyBuffer, ...kernels], { bytes, reps: 10, warmupMs: 30 }).sort((a, b) => b.bytesPerS - a.bytesPerS);
}

/** A whole bench-ops run. */
export interface OpsBenchReport {
  device: string;
  /** Copy rates measured in this run, fastest first; roofs.measuredCopyBytesPerS is the first. */
  copy: CopyRate[];
  /** The f16 square GEMM row timed for the peak. */
  gemmPeak: RowResult;
  /** Label of the row that set roofs.gemmPeakFlopsPerS (the square GEMM or a faster GEMM row), null when none ran. */
  gemmPeakSource: string | null;
  roofs: Roofs;
  rows: RowResult[];
}

/**
 * The anchors whose label (anchorLabel) matches `filter` (all when undefined).
 * @throws Error naming the filter and listing the labels when none matches.
 */
export function selectAnchors(anchors: readonly Anchor[], filter?: RegExp): Anchor[] {
  const picked = anchors.filter((a) => !filter || filter.test(anchorLabel(a)));
  if (picked.length === 0) throw new Error(`--filter ${filter}: matches no row (rows: ${anchors.map(anchorLabel).join('; ')})`);
  return picked;
}

/**
 * Measure the copy rates, time the f16 square GEMM (gemmPeakRow), then every anchor at `scale` (default
 * 1). The GEMM peak is the best FLOP rate of the square GEMM and of the matmul rows with N > 8 measured in
 * the run (so no GEMM row reads above 100%); compute-bound floors are filled in once it is known.
 * `onProgress` hears each step before it runs (done counts finished steps of `total`).
 * @throws Error from the native layer (allocation, pipeline creation, submission).
 */
export function runOpsBench(
  ctx: Context,
  chooser: VariantChooser,
  anchors: readonly Anchor[],
  opts: { scale?: number; timing?: TimingOptions; copyBytes?: number; onProgress?: (done: number, total: number, what: string) => void } = {},
): OpsBenchReport {
  const scale = opts.scale ?? 1;
  const rows = anchors.map((a) => scaleAnchor(a, scale));
  const total = rows.length + 2;
  const progress = opts.onProgress ?? (() => {});
  progress(0, total, 'copy bandwidth');
  const copy = measureDeviceCopy(ctx, chooser, { bytes: opts.copyBytes });
  const roofs: Roofs = { anchorCopyBytesPerS: ANCHOR_COPY_BYTES_PER_S, measuredCopyBytesPerS: copy[0].bytesPerS, gemmPeakFlopsPerS: null };
  const peakRow = gemmPeakRow(scale);
  progress(1, total, peakRow.label);
  const gemmPeak = benchRow(ctx, chooser, peakRow, roofs, { timing: opts.timing });
  const measured = rows.map((row, i) => {
    progress(i + 2, total, row.label);
    return benchRow(ctx, chooser, row, roofs, { timing: opts.timing, seed: i + 2 });
  });
  let gemmPeakSource: string | null = null;
  for (const r of [gemmPeak, ...measured]) {
    if (r.op !== 'matmul' || r.bound !== 'compute' || r.us === null) continue;
    const rate = r.flops / (r.us * 1e-6);
    if (roofs.gemmPeakFlopsPerS === null || rate > roofs.gemmPeakFlopsPerS) [roofs.gemmPeakFlopsPerS, gemmPeakSource] = [rate, r.label];
  }
  return { device: ctx.device.name, copy, gemmPeak, gemmPeakSource, roofs, rows: measured.map((r) => withFloors(r, roofs)) };
}
