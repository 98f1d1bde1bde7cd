/**
 * `kpack autotune` keeps the earlier pack's tuned entries for buckets a run does not tune (bin/commands/autotune.ts
 * carriedEntries): only this device's packs, only tuned entries of families and launch contracts this build has, the
 * run's own buckets and the first pack's entries winning, their SPIR-V copied. No GPU needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { carriedEntries } from '../bin/commands/autotune';
import { attentionVec } from '../generator/families/attention_vec';
import { matmulVec } from '../generator/families/matmul_vec';
import { entryAbi } from '../generator/schema';
import type { DeviceInfo } from '../native/vulkan/api';
import { type EntryMatch, type Pack, type PackEntry, SPIRV_MAGIC, addBlob, bucketKey } from '../tuner/pack/format';
import { fingerprintOf } from '../tuner/pack/fingerprint';
import { createPack, currentToolchain } from '../tuner/pack/write';

const h100 = { name: 'NVIDIA H100 80GB HBM3', vendorId: 0x10de, deviceId: 0x2330, driverName: 'NVIDIA', driverInfo: '580.159.04', driverVersion: 0x9127c000, apiVersion: '1.4.312' } as DeviceInfo;
const other = { ...h100, name: 'NVIDIA H200', deviceId: 0x2335 } as DeviceInfo;

function blob(tag: number): Uint8Array {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(0, SPIRV_MAGIC, true);
  b[8] = tag;
  return b;
}

function entry(blobs: Map<string, Uint8Array>, op: string, family: string, instance: string, match: Omit<EntryMatch, 'instance'>, tag: number, abi?: number): PackEntry {
  const m: EntryMatch = { instance, ...match };
  return { op, bucket: bucketKey(op, m), match: m, family, instance, params: { tag }, spirv: addBlob(blobs, blob(tag)), stats: [], ...(abi !== undefined ? { abi } : {}) };
}

function pack(device: DeviceInfo, name: string, make: (blobs: Map<string, Uint8Array>) => PackEntry[]): Pack {
  const blobs = new Map<string, Uint8Array>();
  return createPack({ device: fingerprintOf(device), toolchain: currentToolchain('test'), entries: make(blobs), blobs, name });
}

const att = (depth: [number, number | null]) => ({ shape: { D: 64, heads: 32, kvHeads: 8 }, range: { queries: [1, 1] as [number, number], depth } });
const attAbi = entryAbi(attentionVec, 'f16');

test('carriedEntries keeps this device\'s tuned entries for buckets the run does not tune', () => {
  const earlier = pack(h100, 'earlier.kpack', (b) => [
    entry(b, 'attention', 'attention.vec', 'f16', att([0, 1023]), 1, attAbi), // tuned again by the run: dropped
    entry(b, 'attention', 'attention.vec', 'f16', att([1024, 8191]), 2, attAbi), // kept
    entry(b, 'matmul', 'matmul.vec', 'q4_0', { shape: { M: 2048, K: 2048 }, range: { N: [1, 1] } }, 3, entryAbi(matmulVec, 'q4_0')), // kept
    entry(b, 'attention', 'attention.vec', 'f16', att([8192, 32767]), 4, attAbi === 1 ? 2 : 1), // another launch contract: dropped
    entry(b, 'attention', 'attention.flash', 'f16', att([32768, null]), 5), // no such family: dropped
    entry(b, 'attention', 'attention.vec', 'f16', { shape: null, range: { queries: [1, 8] } }, 6, attAbi), // a default entry: dropped
  ]);
  const second = pack(h100, 'second.kpack', (b) => [
    entry(b, 'attention', 'attention.vec', 'f16', att([1024, 8191]), 7, attAbi), // the first pack has this bucket
    entry(b, 'attention', 'attention.vec', 'f32', att([0, 1023]), 8, entryAbi(attentionVec, 'f32')), // kept
  ]);
  const foreign = pack(other, 'h200.kpack', (b) => [entry(b, 'matmul', 'matmul.vec', 'f16', { shape: { M: 64, K: 64 }, range: { N: [1, 1] } }, 9, entryAbi(matmulVec, 'f16'))]);
  const tuned = new Set([earlier.manifest.entries[0].bucket]);
  const blobs = new Map<string, Uint8Array>();
  const { entries, from } = carriedEntries([foreign, earlier, second], h100, tuned, blobs);
  assert.deepEqual(entries.map((e) => e.params.tag), [2, 3, 8]);
  assert.deepEqual([...from], [['earlier.kpack', 2], ['second.kpack', 1]]);
  assert.deepEqual([...blobs.keys()].sort(), entries.map((e) => e.spirv).sort(), 'their SPIR-V, and only theirs');
  assert.deepEqual(blobs.get(entries[0].spirv), blob(2));
  assert.equal(carriedEntries([foreign], h100, new Set(), new Map()).entries.length, 0, "another device's pack is only a source of seeds");
});
