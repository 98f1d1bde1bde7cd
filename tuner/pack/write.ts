/**
 * Writing kernel packs (format: ./format.ts).
 *
 * writePack validates the pack exactly as readPack will (schema, references, hashes) before touching
 * the disk, then writes atomically: gzip bytes go to a temp file in the target's directory
 * (".<name>.<pid>.<random>.tmp"), which is fsynced and renamed over the target (then the directory
 * is fsynced, best effort). Readers therefore see either the old file or the complete new one; on
 * any failure the temp file is removed and the old target is left untouched.
 *
 * Errors (PackError):
 * - INVALID: the pack itself is invalid (every problem listed), nothing is written.
 * - WRITE_FAILED: "cannot write kernel pack <path>: directory <dir> is not writable (EACCES ...)",
 *   "... cannot create directory <dir> ...", or the failing write/fsync/rename step.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DeviceFingerprint } from './fingerprint';
import {
  type HipTuning,
  type Pack,
  type PackDocument,
  type PackEntry,
  type PackManifest,
  type Toolchain,
  type TuningInfo,
  PACK_FORMAT,
  PACK_FORMAT_VERSION,
  PackError,
} from './format';
import { checkDocument } from './read';

/** Toolchain versions of this process (kpack, handlebars from their package.json; node). */
export function currentToolchain(glslang: string): Toolchain {
  const version = (pkg: string): string => {
    try {
      return (require(pkg) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  // dist/tuner/pack/write.js -> <root>/package.json ; tuner/pack/write.ts (ts-node) -> same depth minus dist.
  let kpack = 'unknown';
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const p = require(join(__dirname, rel)) as { name?: string; version: string };
      if (p.name === 'kpack') {
        kpack = p.version;
        break;
      }
    } catch {
      /* try the next location */
    }
  }
  return { kpack, glslang, handlebars: version('handlebars/package.json'), node: process.version };
}

/** A new in-memory pack (format fields and createdAt filled in). */
export function createPack(init: {
  device: DeviceFingerprint | null;
  toolchain: Toolchain;
  tuning?: TuningInfo;
  entries?: PackEntry[];
  hip?: HipTuning;
  blobs?: Map<string, Uint8Array>;
  createdAt?: string;
  /** Display name (default "in-memory pack"); readPack names packs after their file. */
  name?: string;
}): Pack {
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    formatVersion: PACK_FORMAT_VERSION,
    createdAt: init.createdAt ?? new Date().toISOString(),
    device: init.device,
    toolchain: init.toolchain,
    entries: init.entries ?? [],
  };
  if (init.tuning) manifest.tuning = init.tuning;
  if (init.hip) manifest.hip = init.hip;
  return { manifest, blobs: init.blobs ?? new Map(), name: init.name ?? 'in-memory pack' };
}

/**
 * The JSON document of a pack (format and version forced to the current ones; only blobs referenced
 * by an entry are included, sorted by key). A deep copy: editing it leaves the pack alone. Not
 * validated; see checkDocument.
 */
export function packToDocument(pack: Pack): PackDocument {
  const m = pack.manifest;
  const used = new Set(m.entries.map((e) => e.spirv));
  const blobs: Record<string, string> = {};
  for (const key of [...pack.blobs.keys()].sort()) {
    if (used.has(key)) blobs[key] = Buffer.from(pack.blobs.get(key)!).toString('base64');
  }
  const doc: PackDocument = {
    format: PACK_FORMAT,
    formatVersion: PACK_FORMAT_VERSION,
    createdAt: m.createdAt,
    device: structuredClone(m.device),
    toolchain: structuredClone(m.toolchain),
    ...(m.tuning ? { tuning: structuredClone(m.tuning) } : {}),
    entries: structuredClone(m.entries),
    ...(m.hip ? { hip: structuredClone(m.hip) } : {}),
    blobs,
  };
  return doc;
}

/** gzip of the document's JSON: the exact bytes of a .kpack file. */
export function encodeDocument(doc: unknown): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(doc), 'utf8'), { level: 9 });
}

export interface WritePackOptions {
  /** Test hook: called with the temp path after it is fully written and fsynced, before the rename. */
  beforeRename?: (tmpPath: string) => void;
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

/**
 * Validate and atomically write `pack` to `path` (parent directories are created).
 * @throws PackError INVALID or WRITE_FAILED (see the module doc).
 */
export function writePack(path: string, pack: Pack, opts: WritePackOptions = {}): void {
  const doc = packToDocument(pack);
  const { problems } = checkDocument(doc);
  if (problems.length) {
    throw new PackError('INVALID', `refusing to write invalid kernel pack ${path}:\n  ${problems.slice(0, 20).join('\n  ')}`, path, problems);
  }
  const data = encodeDocument(doc);
  const target = resolve(path);
  const dir = dirname(target);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new PackError('WRITE_FAILED', `cannot write kernel pack ${path}: cannot create directory ${dir} (${errText(e)})`, path);
  }
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw new PackError('WRITE_FAILED', `cannot write kernel pack ${path}: directory ${dir} is not writable (${errText(e)})`, path);
  }
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    opts.beforeRename?.(tmp);
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new PackError('WRITE_FAILED', `cannot write kernel pack ${path}: ${errText(e)} (target left unchanged)`, path);
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* directory fsync is best effort (not supported everywhere) */
  }
}
