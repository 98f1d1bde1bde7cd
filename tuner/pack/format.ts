/**
 * Kernel pack format (`.kpack`), version 1.
 *
 * A pack is ONE file: the gzip (node zlib, RFC 1952) of a UTF-8 JSON document:
 *
 * ```
 * {
 *   "format": "kpack",                 // magic, always "kpack"
 *   "formatVersion": 1,                // readers reject versions newer than FORMAT_VERSION
 *   "createdAt": "2025-01-01T00:00:00.000Z",   // ISO 8601
 *   "device": DeviceFingerprint | null, // null = device-independent (the built-in default pack)
 *   "toolchain": { "kpack": "0.1.0", "glslang": "15.1.0", "handlebars": "4.7.8", "node": "v20.19.0" },
 *   "tuning": { "budgetMs", "batches", "depths", "durationMs", "copyBandwidthGBs", ... },  // optional
 *   "entries": [ PackEntry, ... ],     // order is irrelevant to selection except as a last tie-break
 *   "blobs": { "<sha256 hex of the SPIR-V>": "<base64 SPIR-V>", ... }
 * }
 * ```
 *
 * A PackEntry says: "for op `op`, template instance `match.instance`, a problem of shape
 * `match.shape` whose batch dimension (N for matmul, queries for attention) lies in `match.range.N`
 * (or `.queries`) and whose depth (KV length) lies in `match.range.depth`, launch family `family`,
 * instance `instance`, with parameters `params`, from SPIR-V blob `spirv`".
 * - `match.shape` null = any shape (wildcard entries, e.g. the default pack's; the selector only
 *   considers them at its last, 'default' level, see runtime/pack-select.ts).
 * - Ranges are inclusive `[lo, hi]`; `hi` null = unbounded. A missing range key = any value.
 *   An entry constrains at most one of `N` / `queries`.
 * - `bucket` is a human-readable key unique within the pack for (op, instance, shape, range), e.g.
 *   "matmul/f16/M=2048,K=2048/N=65+" (see bucketKey()).
 * - `stats` are the tuner's measurements at concrete points inside the bucket (may be empty, e.g. in
 *   the default pack).
 *
 * Invariants checked on load (tuner/pack/read.ts) and before writing (tuner/pack/write.ts):
 * JSON schema (tuner/pack/schema.ts, ajv); every entry's `spirv` is a key of `blobs`; every blob's
 * sha256, recomputed over the decoded bytes, equals its key; every blob starts with the SPIR-V magic
 * number; buckets are unique per (op, match.instance); ranges have lo <= hi; every HIP entry source's
 * sha256 equals the hash of its text (hip.entries[].sources, not blobs: HIP sources are text).
 */
import { createHash } from 'node:crypto';
import type { DeviceFingerprint } from './fingerprint';

export const PACK_FORMAT = 'kpack';
/** The newest format version this kpack reads and the version it writes. */
export const PACK_FORMAT_VERSION = 1;
export const PACK_EXTENSION = '.kpack';
/** SPIR-V magic number (first little-endian word of every module). */
export const SPIRV_MAGIC = 0x07230203;

/** Inclusive range [lo, hi]; hi null = unbounded above. */
export type Range = [number, number | null];

/** Shape key of a bucket: the op's shape fields that define it (e.g. {M, K} or {D, heads, kvHeads}). */
export type ShapeKey = Record<string, number | string | boolean>;

export interface EntryMatch {
  /** Template instance the entry serves (the caller's instance key, e.g. "f16"). */
  instance: string;
  /** Shape key, or null = any shape. */
  shape: ShapeKey | null;
  /** N (matmul) or queries (attention), and depth (KV length); missing = any. */
  range: { N?: Range; queries?: Range; depth?: Range };
}

export interface EntryStat {
  /** The concrete problem measured, e.g. {M: 2048, N: 128, K: 2048}. */
  point: Record<string, number | string | boolean>;
  medianNs: number;
  /** Median absolute deviation, ns. */
  madNs: number;
  /** Confidence interval of the median, ns. */
  ciLowNs: number;
  ciHighNs: number;
  /** Number of timed samples. */
  n: number;
  /** Median of the family's built-in default variant at the same point, ns. */
  defaultMedianNs: number;
  /** defaultMedianNs / medianNs. */
  speedup: number;
  gflops?: number;
  gbps?: number;
  /** Percent of the device roofline (compute or bandwidth bound, whichever applies). */
  rooflinePct?: number;
}

export interface PackEntry {
  op: string;
  bucket: string;
  match: EntryMatch;
  /** Family id, e.g. "matmul.tile". */
  family: string;
  /**
   * The family's launch-contract version when the entry was written (generator/schema.ts
   * KernelFamily.abi); absent = 1. The runtime skips entries whose version differs from the family's.
   */
  abi?: number;
  /** Template instance key of the family (usually equal to match.instance). */
  instance: string;
  params: Record<string, number>;
  /** sha256 hex of the SPIR-V blob. */
  spirv: string;
  stats: EntryStat[];
}

export interface Toolchain {
  kpack: string;
  glslang: string;
  handlebars: string;
  node: string;
}

export interface TuningInfo {
  budgetMs?: number;
  batches?: number[];
  depths?: number[];
  durationMs?: number;
  copyBandwidthGBs?: number;
  [key: string]: unknown;
}

/** One bucket tuned through the HIP back-end (`kpack autotune --backend hip|all`; tuner/hip/autotune.ts). */
export interface HipTunedEntry {
  op: string;
  /** The Vulkan entries' bucket key of the same workload (tuner/workloads.ts). */
  bucket: string;
  instance: string;
  /** HIP port of this family (generator/hip/families.ts), e.g. "matmul.vec". */
  family: string;
  /** Its tuned parameters (the family's plus WAVES_PER_EU). */
  params: Record<string, number>;
  /** The workload point it was timed at (its shape). */
  point: Record<string, number | string | boolean>;
  /** Median GPU time per call, ns; the HIP defaults' median (null when they did not run). */
  medianNs: number;
  defaultMedianNs: number | null;
  /** Relative L2 error against the float64 reference of its validation shape. */
  relError: number;
  /** --backend all: the Vulkan entry's median at the same point, and the API that was faster there. */
  vulkanMedianNs?: number;
  winner?: 'vulkan' | 'hip';
  /**
   * The rendered HIP sources the runtime compiles for this entry (`kpack run|bench --backend hip`): per
   * source its sha256 (hex, of the UTF-8 text; checked on load), the extern "C" entries it defines and the
   * text, rendered at hip.device.warpSize with the dispatch points the Llama graph may launch in this
   * bucket (generator/hip/sources.ts renderRuntimeSources). Absent in packs of older kpacks: the runtime
   * then cannot use the entry and runs the HIP defaults for its bucket.
   */
  sources?: HipEntrySource[];
}

/** One rendered HIP source of a HipTunedEntry. */
export interface HipEntrySource {
  sha256: string;
  entries: string[];
  text: string;
}

/** What `kpack autotune --backend hip|all` measured through the HIP back-end, beside the Vulkan entries. */
export interface HipTuning {
  device: { name: string; api: 'cuda' | 'hip'; arch: string; warpSize: number; driverVersion: string };
  /** The runtime compiler, e.g. "NVRTC 13.0". */
  compiler: string;
  entries: HipTunedEntry[];
}

/** The JSON document minus `blobs`. */
export interface PackManifest {
  format: typeof PACK_FORMAT;
  formatVersion: number;
  createdAt: string;
  device: DeviceFingerprint | null;
  toolchain: Toolchain;
  tuning?: TuningInfo;
  entries: PackEntry[];
  /** HIP results (autotune --backend hip|all): recorded per bucket; the runtime runs the Vulkan entries. */
  hip?: HipTuning;
}

/** The JSON document as stored (before gzip). */
export interface PackDocument extends PackManifest {
  blobs: Record<string, string>;
}

/** A pack in memory. `path` is set when it was read from a file. */
export interface Pack {
  manifest: PackManifest;
  /** sha256 hex -> SPIR-V bytes. */
  blobs: Map<string, Uint8Array>;
  /** Display name: the file name for packs read from disk (readPack), else createPack's `name`. */
  name: string;
  path?: string;
}

export type PackErrorCode =
  | 'NOT_FOUND'
  | 'NOT_KPACK'
  | 'CORRUPT_GZIP'
  | 'BAD_JSON'
  | 'FORMAT_TOO_NEW'
  | 'INVALID'
  | 'DEVICE_MISMATCH'
  | 'WRITE_FAILED';

/**
 * Every error of the pack reader/writer. `code` classifies it; the message names the file and
 * what was expected. For 'INVALID', `problems` lists every schema violation / hash mismatch /
 * missing blob found.
 */
export class PackError extends Error {
  constructor(
    readonly code: PackErrorCode,
    message: string,
    readonly path?: string,
    readonly problems: string[] = [],
  ) {
    super(message);
    this.name = 'PackError';
  }
}

/** sha256 of bytes as lowercase hex (the key of a pack blob). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Add a SPIR-V module to a blob map (deduplicated by content); returns its sha256 key. */
export function addBlob(blobs: Map<string, Uint8Array>, spirv: Uint8Array): string {
  const sha = sha256Hex(spirv);
  if (!blobs.has(sha)) blobs.set(sha, spirv);
  return sha;
}

/** Whether `v` lies in the inclusive range (undefined range = any). */
export function rangeContains(r: Range | undefined, v: number): boolean {
  if (!r) return true;
  return v >= r[0] && (r[1] === null || v <= r[1]);
}

/** "65+", "1-8", "4". */
export function formatRange(r: Range): string {
  if (r[1] === null) return `${r[0]}+`;
  return r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`;
}

/** "M=2048,K=2048" (keys in the given order), "*" for null. */
export function formatShapeKey(shape: ShapeKey | null): string {
  if (!shape) return '*';
  return Object.entries(shape)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Canonical bucket key: "op/instance/shape/range", e.g. "matmul/f16/M=2048,K=2048/N=65+", "rms_norm/f32/*\/*". */
export function bucketKey(op: string, match: EntryMatch): string {
  const parts: string[] = [];
  for (const k of ['N', 'queries', 'depth'] as const) {
    const r = match.range[k];
    if (r) parts.push(`${k}=${formatRange(r)}`);
  }
  return `${op}/${match.instance}/${formatShapeKey(match.shape)}/${parts.length ? parts.join(',') : '*'}`;
}

/** Shape keys are equal when they have the same keys with the same values (key order irrelevant). */
export function shapeKeyEquals(a: ShapeKey | null, b: ShapeKey | null): boolean {
  if (a === null || b === null) return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b && a[k] === b[k]);
}
