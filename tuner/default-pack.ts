/**
 * The built-in default variants as pack entries: each family's `defaults` point, routed by batch
 * size where an op has several families (GEMV/VEC for small batches, TILE beyond). These entries
 * are device-independent (match.shape null) and serve as the selector's last fallback level; every
 * tuned pack carries them too, so a pack is self-contained.
 */
import { familyById } from '../generator/families';
import { type Manifest, readSpirv } from '../generator/manifest';
import { entryAbi } from '../generator/schema';
import { type EntryMatch, type PackEntry, type Range, addBlob, bucketKey } from './pack/format';

/** Which family serves which batch range by default (ops with one family need no route). */
export const DEFAULT_ROUTES: Record<string, { key: 'N' | 'queries'; routes: Array<[family: string, range: Range]> }> = {
  matmul: { key: 'N', routes: [['matmul.vec', [1, 8]], ['matmul.tile', [9, null]]] },
  attention: { key: 'queries', routes: [['attention.vec', [1, 8]], ['attention.tile', [9, null]]] },
};

/** Families that need device features (coopmat) never serve as defaults. */
const portable = (familyId: string) => !familyId.includes('coopmat');

/**
 * Default entries for every (op, instance) the manifest built, with their SPIR-V added to `blobs`.
 * @throws Error when a routed family is missing from the manifest.
 */
export function defaultEntries(manifest: Manifest, manifestDir: string, blobs: Map<string, Uint8Array>): PackEntry[] {
  const entries: PackEntry[] = [];
  const byId = new Map(manifest.families.map((f) => [f.id, f]));
  const ops = [...new Set(manifest.families.map((f) => f.op))];
  for (const op of ops) {
    const routing = DEFAULT_ROUTES[op];
    const routes: Array<[string, Range | null]> = routing
      ? routing.routes
      : manifest.families.filter((f) => f.op === op && portable(f.id)).map((f) => [f.id, null]);
    for (const [familyId, range] of routes) {
      const fam = byId.get(familyId);
      if (!fam) throw new Error(`default pack: family ${familyId} is not in the kernel manifest`);
      for (const inst of fam.instances) {
        const match: EntryMatch = { instance: inst.key, shape: null, range: range && routing ? { [routing.key]: range } : {} };
        entries.push({
          op,
          bucket: bucketKey(op, match),
          match,
          family: fam.id,
          abi: entryAbi(familyById(fam.id), inst.key),
          instance: inst.key,
          params: { ...fam.defaults },
          spirv: addBlob(blobs, readSpirv(manifestDir, inst.spirv)),
          stats: [],
        });
      }
    }
  }
  return entries;
}
