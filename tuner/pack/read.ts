/**
 * Reading, verifying and summarizing kernel packs (format: ./format.ts).
 *
 * Load pipeline, each step failing with a PackError whose message names the file:
 *  1. read the file                     -> NOT_FOUND ("cannot read kernel pack X: ...")
 *  2. gzip magic (1f 8b)                -> NOT_KPACK ("X is not a kpack file (not gzip data)")
 *  3. gunzip (CRC, length, deflate)     -> CORRUPT_GZIP ("X: corrupt gzip data (...)")
 *  4. JSON.parse                        -> BAD_JSON
 *  5. format === "kpack"                -> NOT_KPACK
 *  6. formatVersion <= PACK_FORMAT_VERSION -> FORMAT_TOO_NEW
 *     ("pack X has format version 2; this kpack reads up to 1: upgrade kpack")
 *  7. JSON schema (ajv, all errors), entry->blob references, blob sha256 recomputed == key,
 *     SPIR-V magic, unique buckets, lo <= hi -> INVALID (every problem listed in `problems`)
 *  8. device (when opts.device is given and the pack's device is not null) -> DEVICE_MISMATCH
 *     ("pack X was tuned for <device>; this device is <device>; pass --force-pack to use it anyway"),
 *     or with opts.force a warning through opts.warn instead.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Ajv from 'ajv';
import type { DeviceInfo } from '../../native/vulkan/api';
import {
  type Pack,
  type PackDocument,
  type PackManifest,
  PACK_FORMAT,
  PACK_FORMAT_VERSION,
  PackError,
  SPIRV_MAGIC,
  formatShapeKey,
  sha256Hex,
} from './format';
import { type DeviceFingerprint, compareDevices, describeDevice, toFingerprint } from './fingerprint';
import { packSchemaV1 } from './schema';

let validator: ReturnType<Ajv['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv['compile']> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    validator = ajv.compile(packSchemaV1 as object);
  }
  return validator;
}

/** Steps 1-6: bytes -> JSON document whose format and version are readable. Throws PackError. */
export function decodePackBytes(bytes: Uint8Array, path: string): unknown {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new PackError('NOT_KPACK', `${path} is not a kpack file (expected gzip data, found ${bytes.length < 2 ? 'a truncated file' : 'other bytes'})`, path);
  }
  let json: Buffer;
  try {
    json = gunzipSync(bytes);
  } catch (e) {
    throw new PackError('CORRUPT_GZIP', `${path}: corrupt gzip data (${(e as Error).message}); the file is damaged or truncated, re-create or re-download it`, path);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch (e) {
    throw new PackError('BAD_JSON', `${path}: gzip content is not valid JSON (${(e as Error).message})`, path);
  }
  if (typeof doc !== 'object' || doc === null || (doc as { format?: unknown }).format !== PACK_FORMAT) {
    throw new PackError('NOT_KPACK', `${path} is not a kpack file (expected a JSON object with "format": "kpack")`, path);
  }
  const v = (doc as { formatVersion?: unknown }).formatVersion;
  if (typeof v === 'number' && Number.isInteger(v) && v > PACK_FORMAT_VERSION) {
    throw new PackError('FORMAT_TOO_NEW', `pack ${path} has format version ${v}; this kpack reads up to ${PACK_FORMAT_VERSION}: upgrade kpack`, path);
  }
  return doc;
}

/**
 * Step 7: every problem of a document (schema, references, hashes, SPIR-V magic, buckets, ranges),
 * plus the decoded blobs. An empty `problems` means the document is a valid pack.
 */
export function checkDocument(doc: unknown): { problems: string[]; blobs: Map<string, Uint8Array>; unreferenced: string[] } {
  const problems: string[] = [];
  const blobs = new Map<string, Uint8Array>();
  const validate = schemaValidator();
  if (!validate(doc)) {
    for (const e of validate.errors ?? []) problems.push(`schema: ${e.instancePath || '/'} ${e.message}${e.params && 'allowedValue' in e.params ? ` (${JSON.stringify(e.params.allowedValue)})` : ''}`);
    return { problems, blobs, unreferenced: [] };
  }
  const d = doc as PackDocument;
  for (const [key, b64] of Object.entries(d.blobs)) {
    const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
    const actual = sha256Hex(bytes);
    if (actual !== key) {
      problems.push(`hash mismatch for blob ${key}: its content hashes to ${actual}`);
      continue;
    }
    if (bytes.length < 20 || bytes.length % 4 !== 0 || new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) !== SPIRV_MAGIC) {
      problems.push(`blob ${key} is not a SPIR-V module (${bytes.length} bytes, bad magic or size)`);
      continue;
    }
    blobs.set(key, bytes);
  }
  const referenced = new Set<string>();
  const buckets = new Map<string, number>();
  d.entries.forEach((e, i) => {
    const where = `entries[${i}] (${e.bucket})`;
    referenced.add(e.spirv);
    if (!(e.spirv in d.blobs)) problems.push(`${where}: SPIR-V blob ${e.spirv} is missing from blobs`);
    for (const [k, r] of Object.entries(e.match.range)) {
      if (r && r[1] !== null && r[1] < r[0]) problems.push(`${where}: range ${k} [${r[0]}, ${r[1]}] has hi < lo`);
    }
    const bk = `${e.op}\0${e.match.instance}\0${e.bucket}`;
    const prev = buckets.get(bk);
    if (prev !== undefined) problems.push(`${where}: duplicate bucket for op ${e.op}, instance ${e.match.instance} (also entries[${prev}])`);
    else buckets.set(bk, i);
  });
  d.hip?.entries.forEach((e, i) => {
    for (const src of e.sources ?? []) {
      const actual = sha256Hex(Buffer.from(src.text, 'utf8'));
      if (actual !== src.sha256) problems.push(`hip.entries[${i}] (${e.bucket}): hash mismatch for HIP source ${src.sha256}: its text hashes to ${actual}`);
    }
  });
  const unreferenced = Object.keys(d.blobs).filter((k) => !referenced.has(k));
  return { problems, blobs, unreferenced };
}

function invalid(path: string, problems: string[]): PackError {
  const shown = problems.slice(0, 20);
  const more = problems.length > shown.length ? `\n  ... and ${problems.length - shown.length} more` : '';
  return new PackError('INVALID', `${path} is not a valid kpack (format version ${PACK_FORMAT_VERSION}):\n  ${shown.join('\n  ')}${more}`, path, problems);
}

export interface ReadPackOptions {
  /** The device the pack will run on; a pack tuned for another device is rejected (unless force). */
  device?: DeviceFingerprint | DeviceInfo;
  /** Accept a pack tuned for another device, with a warning. */
  force?: boolean;
  /** Receives warnings (device mismatch under force, API version / name differences). Default: console.warn. */
  warn?: (msg: string) => void;
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PackError('NOT_FOUND', `cannot read kernel pack ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, path);
  }
}

/**
 * Check a pack's device against `device` (step 8). Device-independent packs (device null) always pass.
 * @throws PackError DEVICE_MISMATCH unless `force` (then warns).
 */
export function checkPackDevice(manifest: PackManifest, path: string, opts: ReadPackOptions): void {
  if (!opts.device || manifest.device === null) return;
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const here = toFingerprint(opts.device);
  const cmp = compareDevices(manifest.device, here);
  if (!cmp.same) {
    const msg = `pack ${path} was tuned for ${describeDevice(manifest.device)}; this device is ${describeDevice(here)} (${cmp.mismatches.join('; ')})`;
    if (!opts.force) throw new PackError('DEVICE_MISMATCH', `${msg}; pass --force-pack to use it anyway`, path);
    warn(`warning: ${msg}; using it anyway (--force-pack): kernels may be slow or fail to compile`);
  } else if (cmp.warnings.length) {
    warn(`warning: pack ${path}: same GPU and driver, but ${cmp.warnings.join('; ')}`);
  }
}

/** A pack read from a file: `path` as given, `name` its file name. */
export type LoadedPack = Pack & { path: string };

/**
 * Read, fully validate and (optionally) device-check a pack file.
 * @throws PackError (see the module doc for codes and messages).
 */
export function readPack(path: string, opts: ReadPackOptions = {}): LoadedPack {
  const doc = decodePackBytes(readBytes(path), path);
  const { problems, blobs } = checkDocument(doc);
  if (problems.length) throw invalid(path, problems);
  const { blobs: _b64, ...manifest } = doc as PackDocument;
  checkPackDevice(manifest, path, opts);
  return { manifest, blobs, path, name: basename(path) };
}

export interface VerifyReport {
  path: string;
  /** True when the pack loads (schema OK, hashes OK, every reference present). */
  ok: boolean;
  fileBytes: number;
  formatVersion: number | null;
  device: DeviceFingerprint | null;
  entries: number;
  blobs: number;
  /** Blobs whose recomputed sha256 matched their key. */
  blobsHashOk: number;
  schemaOk: boolean;
  hashesOk: boolean;
  referencesOk: boolean;
  /** Blobs no entry references (allowed, reported). */
  unreferencedBlobs: string[];
  /** Every problem found; empty when ok. */
  errors: string[];
}

/** Verify a pack file without throwing (for `kpack pack verify`); device is not checked. */
export function verifyPack(path: string): VerifyReport {
  const report: VerifyReport = {
    path, ok: false, fileBytes: 0, formatVersion: null, device: null, entries: 0, blobs: 0, blobsHashOk: 0,
    schemaOk: false, hashesOk: false, referencesOk: false, unreferencedBlobs: [], errors: [],
  };
  let doc: unknown;
  try {
    const bytes = readBytes(path);
    report.fileBytes = bytes.length;
    doc = decodePackBytes(bytes, path);
  } catch (e) {
    report.errors.push((e as Error).message);
    return report;
  }
  const d = doc as Partial<PackDocument>;
  report.formatVersion = typeof d.formatVersion === 'number' ? d.formatVersion : null;
  report.device = d.device ?? null;
  report.entries = Array.isArray(d.entries) ? d.entries.length : 0;
  report.blobs = d.blobs && typeof d.blobs === 'object' ? Object.keys(d.blobs).length : 0;
  const { problems, blobs, unreferenced } = checkDocument(doc);
  report.errors = problems;
  report.schemaOk = !problems.some((p) => p.startsWith('schema:'));
  report.blobsHashOk = report.schemaOk ? report.blobs - problems.filter((p) => p.startsWith('hash mismatch')).length : 0;
  report.hashesOk = report.schemaOk && blobs.size === report.blobs;
  report.referencesOk = report.schemaOk && !problems.some((p) => p.includes('is missing from blobs'));
  report.unreferencedBlobs = unreferenced;
  report.ok = problems.length === 0;
  return report;
}

export interface PackInfo {
  /** Header lines: [label, value]. */
  summary: Array<[string, string]>;
  columns: string[];
  /** One row per entry, cells aligned with `columns`. */
  rows: string[][];
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
  return `${ns.toFixed(0)} ns`;
}

/**
 * Printable summary for `kpack pack info`: device, toolchain, tuning, and per entry op, bucket,
 * family/instance, params, median time (first measured point; "-" without stats) and speedup over
 * the default variant (geometric mean over the measured points).
 */
export function packInfo(pack: Pack): PackInfo {
  const m = pack.manifest;
  let spirvBytes = 0;
  for (const b of pack.blobs.values()) spirvBytes += b.length;
  const summary: Array<[string, string]> = [
    ['pack', pack.path ?? '(in memory)'],
    ['format', `${m.format} ${m.formatVersion}`],
    ['created', m.createdAt],
    ['device', m.device ? describeDevice(m.device) : 'any (device-independent)'],
    ['toolchain', Object.entries(m.toolchain).map(([k, v]) => `${k} ${v}`).join(', ')],
  ];
  if (m.tuning) summary.push(['tuning', Object.entries(m.tuning).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('/') : v}`).join(' ')]);
  summary.push(['entries', String(m.entries.length)], ['blobs', `${pack.blobs.size} (${spirvBytes} bytes of SPIR-V)`]);
  if (m.hip) {
    const won = m.hip.entries.filter((e) => e.winner === 'hip').length;
    const compared = m.hip.entries.filter((e) => e.winner).length;
    summary.push(['hip', `${m.hip.entries.length} buckets tuned through ${m.hip.device.api} on ${m.hip.device.name} (${m.hip.device.arch}, ${m.hip.compiler})` + (compared ? `; HIP faster in ${won} of ${compared} compared with Vulkan` : '')]);
  }
  const columns = ['op', 'bucket', 'family', 'params', 'median', 'speedup'];
  const rows = m.entries.map((e) => {
    const s = e.stats;
    const median = s.length ? fmtNs(s[0].medianNs) + (s.length > 1 ? ` (+${s.length - 1} pts)` : '') : '-';
    const speedup = s.length && s.every((x) => x.speedup > 0)
      ? `${Math.exp(s.reduce((a, x) => a + Math.log(x.speedup), 0) / s.length).toFixed(2)}x`
      : '-';
    return [e.op, e.bucket, `${e.family}/${e.instance}`, formatShapeKey(e.params), median, speedup];
  });
  return { summary, columns, rows };
}

/** packInfo rendered as text: header lines then an aligned table. */
export function formatPackInfo(info: PackInfo): string {
  const lw = Math.max(...info.summary.map(([k]) => k.length));
  const head = info.summary.map(([k, v]) => `${k.padEnd(lw)}  ${v}`);
  const all = [info.columns, ...info.rows];
  const widths = info.columns.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const table = all.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  return [...head, '', ...table].join('\n');
}
