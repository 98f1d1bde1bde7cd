/**
 * Choosing the kernel to run from a set of kernel packs (format: tuner/pack/format.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { families } from '../generator/families';
import { entryAbi, entryAbiRuns } from '../generator/schema';
import type { DeviceInfo } from '../native/vulkan/api';
import { type DeviceFingerprint, compareDevices, toFingerprint } from '../tuner/pack/fingerprint';
import { type Pack, type PackEntry, type Range, type ShapeKey, PACK_EXTENSION, PackError, shapeKeyEquals } from '../tuner/pack/format';
import { checkDocument, decodePackBytes } from '../tuner/pack/read';

export type SelectLevel = 'exact' | 'shape' | 'op' | 'default';
/** Alias of SelectLevel. */
export type SelectionLevel = SelectLevel;

export interface Selection<P extends Pack = Pack> {
  entry: PackEntry;
  /** How good the match is; see KernelSelector. */
  level: SelectLevel;
  /** The pack the entry came from. */
  pack: P;
  /** The entry's SPIR-V (from pack.blobs). */
  spirv: Uint8Array;
}

interface Candidate<P extends Pack> {
  entry: PackEntry;
  pack: P;
  packIndex: number;
  entryIndex: number;
}

/** Distance of v from an inclusive range on a log scale (0 inside; undefined range = any = 0). */
function logDistance(r: Range | undefined, v: number): number {
  if (!r) return 0;
  const l = (x: number) => Math.log2(Math.max(x, 0) + 1);
  if (v < r[0]) return l(r[0]) - l(v);
  if (r[1] !== null && v > r[1]) return l(v) - l(r[1]);
  return 0;
}

/** Log distance between two shape keys over their numeric fields; Infinity if keys or non-numeric values differ. */
function shapeDistance(a: ShapeKey, b: ShapeKey): number {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return Infinity;
  let d = 0;
  for (const k of ka) {
    if (!(k in b)) return Infinity;
    const x = a[k];
    const y = b[k];
    if (typeof x === 'number' && typeof y === 'number') d += Math.abs(Math.log2(Math.max(x, 0) + 1) - Math.log2(Math.max(y, 0) + 1));
    else if (x !== y) return Infinity;
  }
  return d;
}

const batchRange = (e: PackEntry): Range | undefined => e.match.range.N ?? e.match.range.queries;

/** Lexicographic comparison of numeric keys. */
function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

function best<P extends Pack>(cands: Candidate<P>[], key: (c: Candidate<P>) => number[]): Candidate<P> | undefined {
  let bestC: Candidate<P> | undefined;
  let bestK: number[] = [];
  for (const c of cands) {
    const k = [...key(c), c.packIndex, c.entryIndex];
    if (!bestC || lexLess(k, bestK)) {
      bestC = c;
      bestK = k;
    }
  }
  return bestC;
}

/**
 * Picks the pack entry for a kernel launch from an ordered list of packs: the user's / installed
 * device pack(s) first, the built-in default pack (device-independent, `match.shape` null) last.
 * Pack order breaks ties at every level (earlier pack wins), then entry order.
 *
 * select(op, instanceKey, shape, batch, depth?) tries these levels in order and returns the first hit:
 *  1. 'exact'   - an entry with the same op and match.instance, match.shape equal to `shape`
 *                 (same keys, same values), whose range contains `batch` (range.N or range.queries;
 *                 absent = any) and `depth` (range.depth; absent = any; ignored when depth is undefined).
 *  2. 'shape'   - same op/instance/shape, the range nearest to `batch` by log2 distance
 *                 (then nearest depth): a tuned kernel for this exact matrix / head layout measured at
 *                 another batch size.
 *  3. 'op'      - same op/instance, any concrete shape, range containing `batch` (and depth); the
 *                 nearest shape (log2 distance over numeric shape fields) wins.
 *  4. 'default' - a wildcard entry (match.shape null) of the same op/instance, e.g. the default pack's,
 *                 range containing `batch`/`depth`, else the nearest one.
 * Entries with match.shape null are only considered at level 4. A null `shape` (an op the caller
 * does not tune per shape) skips levels 1-3. `usable`, when given, drops entries first (the runtime
 * passes its family's supports() for the call's full shape: an entry tuned at batch 1 for a family
 * that cannot run batch 4 is never chosen for batch 4); it must depend only on the other arguments
 * (results are memoized by them).
 *
 * @returns the selection, or null when no pack has any entry for (op, instanceKey).
 * Results are memoized per argument tuple.
 */
export class KernelSelector<P extends Pack = Pack> {
  private readonly byOp = new Map<string, Candidate<P>[]>();
  private readonly memo = new Map<string, Selection<P> | null>();

  /**
   * Entries skipped because they were tuned under another launch contract (PackEntry.abi vs the family's
   * and instance's, generator/schema.ts entryAbi): a pack from an older kpack; re-run autotune. (Entries of families this kpack
   * does not know stay; choosing one fails with an error naming the family.)
   */
  readonly stale: Array<{ pack: P; entry: PackEntry; reason: string }> = [];

  constructor(readonly packs: readonly P[]) {
    const known = new Map(families.map((f) => [f.id, f]));
    packs.forEach((pack, packIndex) => {
      pack.manifest.entries.forEach((entry, entryIndex) => {
        const family = known.get(entry.family);
        if (family && !entryAbiRuns(family, entry.instance, entry.abi ?? 1)) {
          this.stale.push({ pack, entry, reason: `${entry.family} launch contract ${entry.abi ?? 1}, this kpack has ${entryAbi(family, entry.instance)}` });
          return;
        }
        const k = `${entry.op}\0${entry.match.instance}`;
        let list = this.byOp.get(k);
        if (!list) this.byOp.set(k, (list = []));
        list.push({ entry, pack, packIndex, entryIndex });
      });
    });
  }

  select(op: string, instanceKey: string, shape: ShapeKey | null, batch: number, depth?: number, usable?: (entry: PackEntry) => boolean): Selection<P> | null {
    const memoKey = `${op}\0${instanceKey}\0${shape === null ? 'null' : JSON.stringify(Object.entries(shape).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}\0${batch}\0${depth ?? ''}\0${usable ? 'u' : ''}`;
    const hit = this.memo.get(memoKey);
    if (hit !== undefined) return hit;
    const result = this.selectUncached(op, instanceKey, shape, batch, depth, usable);
    if (this.memo.size > 4096) this.memo.clear();
    this.memo.set(memoKey, result);
    return result;
  }

  private selectUncached(op: string, instanceKey: string, shape: ShapeKey | null, batch: number, depth?: number, usable?: (entry: PackEntry) => boolean): Selection<P> | null {
    const all = (this.byOp.get(`${op}\0${instanceKey}`) ?? []).filter((c) => !usable || usable(c.entry));
    const depthOk = (e: PackEntry) => depth === undefined || logDistance(e.match.range.depth, depth) === 0;
    const depthDist = (e: PackEntry) => (depth === undefined ? 0 : logDistance(e.match.range.depth, depth));
    const contains = (e: PackEntry) => logDistance(batchRange(e), batch) === 0 && depthOk(e);
    const shaped = shape === null ? [] : all.filter((c) => c.entry.match.shape !== null);
    const sameShape = shaped.filter((c) => shapeKeyEquals(c.entry.match.shape, shape));

    const tries: Array<[SelectLevel, () => Candidate<P> | undefined]> = [
      ['exact', () => best(sameShape.filter((c) => contains(c.entry)), () => [])],
      ['shape', () => best(sameShape, (c) => [logDistance(batchRange(c.entry), batch), depthDist(c.entry)])],
      ['op', () => best(shaped.filter((c) => contains(c.entry)), (c) => [shapeDistance(c.entry.match.shape!, shape!)])],
      ['default', () => best(all.filter((c) => c.entry.match.shape === null), (c) => [logDistance(batchRange(c.entry), batch), depthDist(c.entry)])],
    ];
    for (const [level, find] of tries) {
      const c = find();
      if (c) return { entry: c.entry, level, pack: c.pack, spirv: c.pack.blobs.get(c.entry.spirv)! };
    }
    return null;
  }
}

/** ~/.cache/kpack/packs (or $XDG_CACHE_HOME/kpack/packs): where `kpack tune` installs device packs. */
export function userPackDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'kpack', 'packs');
}

/** Directories searched for installed packs: the package's packs/ directory, then userPackDir(). */
export function defaultPackDirs(): string[] {
  return [join(__dirname, '..', '..', 'packs'), userPackDir()];
}

/**
 * Find an installed pack tuned for this device: scans the `*.kpack` files directly inside `dirs`
 * (missing directories are skipped) and returns the path of a valid pack whose device fingerprint
 * matches (sameDevice: vendor/device id, driver name and version), or null. Device-independent packs
 * (device null) are not returned. Several matches: the newest createdAt wins (then the earlier
 * directory, then the file name). Unreadable / invalid / too-new packs are skipped with a warning.
 */
export function findInstalledPack(
  dirs: string | readonly string[],
  device: DeviceInfo | DeviceFingerprint,
  opts: { warn?: (msg: string) => void } = {},
): string | null {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const here = toFingerprint(device);
  let found: { path: string; createdAt: string } | null = null;
  for (const dir of typeof dirs === 'string' ? [dirs] : dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(PACK_EXTENSION)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const doc = decodePackBytes(readFileSync(path), path) as { device?: DeviceFingerprint | null; createdAt?: string };
        if (!doc.device || typeof doc.device !== 'object' || !compareDevices(doc.device, here).same) continue;
        const { problems } = checkDocument(doc);
        if (problems.length) throw new PackError('INVALID', `${path} is not a valid kpack: ${problems.slice(0, 3).join('; ')}`, path, problems);
        const createdAt = String(doc.createdAt);
        if (!found || createdAt > found.createdAt) found = { path, createdAt };
      } catch (e) {
        warn(`warning: skipping kernel pack ${path}: ${(e as Error).message}`);
      }
    }
  }
  return found?.path ?? null;
}
