import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Context, DeviceInfo } from '../native/vulkan/api';
import { KernelSet } from '../runtime/kernels';
import { type Pack, type PackEntry, type Range, type ShapeKey, PackError, SPIRV_MAGIC, addBlob, bucketKey } from '../tuner/pack/format';
import { type DeviceFingerprint, compareDevices, describeDevice, fingerprintOf, formatDriverVersion, sameDevice } from '../tuner/pack/fingerprint';
import { formatPackInfo, packInfo, readPack, verifyPack } from '../tuner/pack/read';
import { createPack, encodeDocument, packToDocument, writePack } from '../tuner/pack/write';
import { matmulVec } from '../generator/families/matmul_vec';
import { matmulVecq } from '../generator/families/matmul_vecq';
import { entryAbi, familyAbi } from '../generator/schema';
import { KernelSelector, findInstalledPack } from '../runtime/pack-select';

const tmp = mkdtempSync(join(tmpdir(), 'kpack-pack-test-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const fresh = (name = 'p.kpack'): string => {
  const d = join(tmp, `t${seq++}`);
  mkdirSync(d);
  return join(d, name);
};

const nvidia: DeviceFingerprint = {
  vendorId: 0x10de,
  deviceId: 0x2330,
  driverName: 'NVIDIA',
  driverVersion: ((535 << 22) | (104 << 14) | (5 << 6)) >>> 0,
  apiVersion: '1.3.260',
  deviceName: 'NVIDIA H100 80GB HBM3',
};
const amd: DeviceFingerprint = { vendorId: 0x1002, deviceId: 0x744c, driverName: 'radv', driverVersion: 0x5c00003, apiVersion: '1.3.255', deviceName: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' };
const toolchain = { kpack: '0.1.0', glslang: '15.1.0', handlebars: '4.7.8', node: process.version };

/** A fake SPIR-V module: magic word + distinguishing payload. */
function spirv(tag: number): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint32(0, SPIRV_MAGIC, true);
  v.setUint32(4, 0x00010600, true);
  v.setUint32(8, tag, true);
  for (let i = 12; i < 64; i++) b[i] = (tag * 31 + i) & 0xff;
  return b;
}

function entry(
  blobs: Map<string, Uint8Array>,
  op: string,
  instance: string,
  shape: ShapeKey | null,
  range: { N?: Range; queries?: Range; depth?: Range },
  family: string,
  tag: number,
): PackEntry {
  const match = { instance, shape, range };
  return {
    op,
    bucket: bucketKey(op, match),
    match,
    family,
    instance,
    params: { BM: 64, BN: 64, tag },
    spirv: addBlob(blobs, spirv(tag)),
    stats: [
      { point: { M: 2048, N: 128, K: 2048 }, medianNs: 51234, madNs: 300, ciLowNs: 50900, ciHighNs: 51600, n: 40, defaultMedianNs: 80000, speedup: 80000 / 51234, gflops: 21000, rooflinePct: 3.1 },
    ],
  };
}

function samplePack(device: DeviceFingerprint | null = nvidia): Pack {
  const blobs = new Map<string, Uint8Array>();
  const entries = [
    entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [65, null] }, 'matmul.tile', 1),
    entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [1, 8] }, 'matmul.gemv', 2),
    entry(blobs, 'attention', 'f16', { D: 128, heads: 32, kvHeads: 8 }, { queries: [1, 1], depth: [1, 1024] }, 'attention.flash', 3),
  ];
  addBlob(blobs, spirv(99)); // unreferenced: pruned on write
  return createPack({ device, toolchain, tuning: { budgetMs: 60000, batches: [1, 8, 128], depths: [512], durationMs: 1234, copyBandwidthGBs: 2900 }, entries, blobs });
}

function expectPackError(fn: () => unknown, code: string, ...needles: Array<string | RegExp>): PackError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PackError, `expected PackError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const n of needles) {
      if (typeof n === 'string') assert.ok(e.message.includes(n), `message lacks "${n}": ${e.message}`);
      else assert.match(e.message, n);
    }
    return e;
  }
  assert.fail(`expected PackError ${code}`);
}

/** Write a document as-is (bypassing writePack's validation). */
function writeRawDoc(path: string, doc: unknown): void {
  writeFileSync(path, encodeDocument(doc));
}

test('fingerprint: from DeviceInfo, matching policy, descriptions', () => {
  const info = { name: 'NVIDIA H100 80GB HBM3', vendorId: 0x10de, deviceId: 0x2330, driverName: 'NVIDIA', driverInfo: '535.104.05', driverVersion: nvidia.driverVersion, apiVersion: '1.3.260' } as DeviceInfo;
  const fp = fingerprintOf(info);
  assert.deepEqual(fp, { ...nvidia, driverInfo: '535.104.05' });
  assert.ok(sameDevice(fp, nvidia));
  assert.ok(!sameDevice(nvidia, amd));
  assert.ok(!sameDevice(nvidia, { ...nvidia, driverVersion: nvidia.driverVersion + (1 << 14) }));
  const api = compareDevices(nvidia, { ...nvidia, apiVersion: '1.3.277' });
  assert.ok(api.same);
  assert.equal(api.warnings.length, 1);
  assert.equal(formatDriverVersion(0x10de, nvidia.driverVersion), '535.104.5.0');
  assert.match(describeDevice(nvidia), /NVIDIA H100 80GB HBM3 \(vendor 0x10de, device 0x2330, driver NVIDIA 535\.104\.5\.0/);
});

test('round trip: write then read gives the same manifest and blobs; verify and info', () => {
  const path = fresh();
  const pack = samplePack();
  writePack(path, pack);
  assert.deepEqual(readdirSync(join(path, '..')), ['p.kpack']);
  assert.equal(readFileSync(path)[0], 0x1f);
  const back = readPack(path, { device: nvidia });
  assert.deepEqual(back.manifest, pack.manifest);
  assert.equal(back.path, path);
  assert.equal(back.blobs.size, 3); // unreferenced blob pruned
  for (const e of back.manifest.entries) assert.deepEqual(back.blobs.get(e.spirv), pack.blobs.get(e.spirv));
  assert.equal(back.manifest.entries[0].bucket, 'matmul/f16/M=2048,K=2048/N=65+');
  assert.equal(back.manifest.entries[2].bucket, 'attention/f16/D=128,heads=32,kvHeads=8/queries=1,depth=1-1024');

  const rep = verifyPack(path);
  assert.equal(rep.ok, true, rep.errors.join('\n'));
  assert.equal(rep.entries, 3);
  assert.equal(rep.blobs, 3);
  assert.equal(rep.blobsHashOk, 3);
  assert.ok(rep.schemaOk && rep.hashesOk && rep.referencesOk);
  assert.deepEqual(rep.unreferencedBlobs, []);

  const info = packInfo(back);
  assert.equal(info.rows.length, 3);
  assert.deepEqual(info.rows[0].slice(0, 3), ['matmul', 'matmul/f16/M=2048,K=2048/N=65+', 'matmul.tile/f16']);
  assert.equal(info.rows[0][4], '51.2 us');
  assert.equal(info.rows[0][5], '1.56x');
  const text = formatPackInfo(info);
  assert.match(text, /device\s+NVIDIA H100/);
  assert.match(text, /toolchain\s+kpack 0\.1\.0, glslang 15\.1\.0/);

  // Overwrite an existing pack.
  const other = samplePack(null);
  other.manifest.entries.pop();
  writePack(path, other);
  assert.equal(readPack(path).manifest.entries.length, 2);
});

test('corruption: not found, not gzip, flipped gzip byte, bad JSON, not a kpack', () => {
  expectPackError(() => readPack(join(tmp, 'nope.kpack')), 'NOT_FOUND', 'nope.kpack', 'no such file');
  const path = fresh();
  writeFileSync(path, 'hello, not a pack');
  expectPackError(() => readPack(path), 'NOT_KPACK', path, 'not a kpack');

  writePack(path, samplePack());
  const bytes = readFileSync(path);
  const bad = Buffer.from(bytes);
  bad[Math.floor(bad.length / 2)] ^= 0x55;
  writeFileSync(path, bad);
  expectPackError(() => readPack(path), 'CORRUPT_GZIP', path, 'corrupt gzip');
  const rep = verifyPack(path);
  assert.equal(rep.ok, false);
  assert.match(rep.errors[0], /corrupt gzip/);

  const trunc = Buffer.from(bytes.subarray(0, bytes.length - 10));
  writeFileSync(path, trunc);
  expectPackError(() => readPack(path), 'CORRUPT_GZIP', path);

  writeFileSync(path, gzipSync('{"format": "kpack", '));
  expectPackError(() => readPack(path), 'BAD_JSON', path, 'not valid JSON');
  writeFileSync(path, gzipSync('{"hello": 1}'));
  expectPackError(() => readPack(path), 'NOT_KPACK', path, '"format": "kpack"');
});

test('corruption: flipped blob byte (hash mismatch), missing blob, schema violations', () => {
  const pack = samplePack();
  const path = fresh();

  const doc = packToDocument(pack);
  const key = pack.manifest.entries[1].spirv;
  const raw = Buffer.from(doc.blobs[key], 'base64');
  raw[40] ^= 1;
  doc.blobs[key] = raw.toString('base64');
  writeRawDoc(path, doc);
  const err = expectPackError(() => readPack(path), 'INVALID', path, `hash mismatch for blob ${key}`);
  assert.equal(err.problems.length, 1);
  const rep = verifyPack(path);
  assert.equal(rep.ok, false);
  assert.equal(rep.schemaOk, true);
  assert.equal(rep.hashesOk, false);
  assert.equal(rep.blobsHashOk, 2);

  const doc2 = packToDocument(pack);
  delete doc2.blobs[key];
  writeRawDoc(path, doc2);
  expectPackError(() => readPack(path), 'INVALID', path, `entries[1] (matmul/f16/M=2048,K=2048/N=1-8): SPIR-V blob ${key} is missing from blobs`);
  assert.equal(verifyPack(path).referencesOk, false);

  const doc3 = packToDocument(pack) as any;
  doc3.entries[0].params.BM = '64';
  delete doc3.entries[2].family;
  doc3.entries[1].match.range.N = [8, 1];
  writeRawDoc(path, doc3);
  const e3 = expectPackError(() => readPack(path), 'INVALID', path, '/entries/0/params/BM must be number', "must have required property 'family'");
  assert.ok(e3.problems.length >= 2);
  assert.equal(verifyPack(path).schemaOk, false);

  const doc4 = packToDocument(pack) as any;
  doc4.entries[1].match.range.N = [8, 1];
  doc4.entries.push({ ...doc4.entries[0] });
  writeRawDoc(path, doc4);
  expectPackError(() => readPack(path), 'INVALID', 'has hi < lo', 'duplicate bucket');

  // A blob that hashes fine but is not SPIR-V.
  const doc5 = packToDocument(pack) as any;
  const junk = Buffer.from('this is not spir-v at all!!!');
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const jk = createHash('sha256').update(junk).digest('hex');
  doc5.blobs[jk] = junk.toString('base64');
  doc5.entries[0].spirv = jk;
  writeRawDoc(path, doc5);
  expectPackError(() => readPack(path), 'INVALID', `blob ${jk} is not a SPIR-V module`);

  // writePack refuses invalid packs and writes nothing.
  const bad = samplePack();
  bad.blobs.delete(bad.manifest.entries[0].spirv);
  const p2 = fresh();
  expectPackError(() => writePack(p2, bad), 'INVALID', p2, 'missing from blobs');
  assert.equal(existsSync(p2), false);
});

test('newer formatVersion is rejected with an upgrade message', () => {
  const path = fresh('future.kpack');
  const doc = packToDocument(samplePack()) as any;
  doc.formatVersion = 2;
  doc.somethingNew = { x: 1 };
  writeRawDoc(path, doc);
  expectPackError(() => readPack(path), 'FORMAT_TOO_NEW', `pack ${path} has format version 2; this kpack reads up to 1: upgrade kpack`);
  assert.match(verifyPack(path).errors[0], /upgrade kpack/);
});

test('device check: other device rejected; accepted with force + warning; independent packs anywhere', () => {
  const path = fresh();
  writePack(path, samplePack(nvidia));
  const e = expectPackError(() => readPack(path, { device: amd }), 'DEVICE_MISMATCH', `pack ${path} was tuned for NVIDIA H100 80GB HBM3 (vendor 0x10de, device 0x2330`, 'this device is AMD Radeon RX 7900 XTX', 'pass --force-pack to use it anyway');
  assert.match(e.message, /vendor 0x1002, device 0x744c, driver radv/);
  const warnings: string[] = [];
  const p = readPack(path, { device: amd, force: true, warn: (m) => warnings.push(m) });
  assert.equal(p.manifest.entries.length, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /was tuned for NVIDIA.*using it anyway/);

  // Driver update: rejected too.
  expectPackError(() => readPack(path, { device: { ...nvidia, driverVersion: nvidia.driverVersion + (1 << 14) } }), 'DEVICE_MISMATCH', 'driverVersion 535.104.5.0 != 535.105.5.0');
  // API version difference only warns.
  const w2: string[] = [];
  readPack(path, { device: { ...nvidia, apiVersion: '1.3.277' }, warn: (m) => w2.push(m) });
  assert.equal(w2.length, 1);
  assert.match(w2[0], /Vulkan API version 1\.3\.260 != 1\.3\.277/);
  // No device given: no check. Device-independent pack: accepted on any device.
  readPack(path);
  const p2 = fresh();
  writePack(p2, samplePack(null));
  const w3: string[] = [];
  readPack(p2, { device: amd, warn: (m) => w3.push(m) });
  assert.equal(w3.length, 0);
});

test('atomic write: unwritable directory, failure before rename, rename failure: no temp file, target intact', () => {
  // Parent "directory" is a regular file.
  const fileAsDir = join(tmp, `file${seq++}`);
  writeFileSync(fileAsDir, 'x');
  expectPackError(() => writePack(join(fileAsDir, 'sub', 'p.kpack'), samplePack()), 'WRITE_FAILED', join(fileAsDir, 'sub', 'p.kpack'), 'cannot create directory');

  // Read-only directory (only meaningful when not root: root ignores permissions).
  if (process.getuid && process.getuid() !== 0) {
    const ro = join(tmp, `ro${seq++}`);
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    try {
      expectPackError(() => writePack(join(ro, 'p.kpack'), samplePack()), 'WRITE_FAILED', join(ro, 'p.kpack'), `directory ${ro} is not writable`, 'EACCES');
      assert.deepEqual(readdirSync(ro), []);
    } finally {
      chmodSync(ro, 0o755);
    }
  }

  // Failure after the temp file is complete, before the rename: old target intact, temp removed.
  const path = fresh();
  const dir = join(path, '..');
  const old = samplePack(null);
  old.manifest.entries = old.manifest.entries.slice(0, 1);
  writePack(path, old);
  const before = readFileSync(path);
  let tmpSeen = '';
  expectPackError(
    () =>
      writePack(path, samplePack(), {
        beforeRename: (t) => {
          tmpSeen = t;
          assert.ok(existsSync(t));
          assert.equal(t.startsWith(dir), true);
          throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
        },
      }),
    'WRITE_FAILED',
    path,
    'disk on fire',
    'target left unchanged',
  );
  assert.ok(tmpSeen);
  assert.equal(existsSync(tmpSeen), false);
  assert.deepEqual(readdirSync(dir), ['p.kpack']);
  assert.deepEqual(readFileSync(path), before);
  assert.equal(readPack(path).manifest.entries.length, 1);

  // Rename fails (target is a non-empty directory): temp removed.
  const d2 = join(tmp, `d${seq++}`);
  mkdirSync(join(d2, 'p.kpack'), { recursive: true });
  writeFileSync(join(d2, 'p.kpack', 'keep'), 'x');
  expectPackError(() => writePack(join(d2, 'p.kpack'), samplePack()), 'WRITE_FAILED', join(d2, 'p.kpack'));
  assert.deepEqual(readdirSync(d2), ['p.kpack']);

  // Missing parent directories are created.
  const deep = join(tmp, `deep${seq++}`, 'a', 'b', 'p.kpack');
  writePack(deep, samplePack());
  assert.equal(readPack(deep).manifest.entries.length, 3);
});

test('selector: exact -> shape -> op -> default levels, pack order, depth, memo', () => {
  const blobs = new Map<string, Uint8Array>();
  const dev = createPack({
    device: nvidia,
    toolchain,
    blobs,
    entries: [
      entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [1, 8] }, 'matmul.gemv', 1),
      entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [9, 64] }, 'matmul.tile', 2),
      entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [65, null] }, 'matmul.tile', 3),
      entry(blobs, 'matmul', 'f16', { M: 4096, K: 4096 }, { N: [1, 8] }, 'matmul.gemv', 4),
      entry(blobs, 'matmul', 'f16', { M: 4096, K: 4096 }, { N: [9, 32] }, 'matmul.tile', 5),
      entry(blobs, 'attention', 'f16', { D: 128, heads: 32, kvHeads: 8 }, { queries: [1, 1], depth: [1, 1024] }, 'attention.flash', 6),
      entry(blobs, 'attention', 'f16', { D: 128, heads: 32, kvHeads: 8 }, { queries: [1, 1], depth: [1025, null] }, 'attention.split', 7),
    ],
  });
  const blobs2 = new Map<string, Uint8Array>();
  const dev2 = createPack({
    device: nvidia,
    toolchain,
    blobs: blobs2,
    entries: [
      entry(blobs2, 'matmul', 'f16', { M: 8192, K: 8192 }, { N: [65, null] }, 'matmul.tile', 10),
      entry(blobs2, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [65, null] }, 'matmul.tile', 11),
    ],
  });
  const blobsD = new Map<string, Uint8Array>();
  const def = createPack({
    device: null,
    toolchain,
    blobs: blobsD,
    entries: [
      entry(blobsD, 'matmul', 'f16', null, { N: [1, 8] }, 'matmul.gemv', 20),
      entry(blobsD, 'matmul', 'f16', null, { N: [9, null] }, 'matmul.tile', 21),
      entry(blobsD, 'matmul', 'f32', null, {}, 'matmul.tile', 22),
      entry(blobsD, 'attention', 'f16', null, {}, 'attention.flash', 23),
    ],
  });
  const sel = new KernelSelector([dev, dev2, def]);
  const tagOf = (s: ReturnType<KernelSelector['select']>) => s && s.entry.params.tag;

  // exact: range contains N; key order of the shape is irrelevant; earlier pack wins a tie (3 over 11).
  let s = sel.select('matmul', 'f16', { K: 2048, M: 2048 }, 100);
  assert.equal(s?.level, 'exact');
  assert.equal(tagOf(s), 3);
  assert.equal(s?.pack, dev);
  assert.deepEqual(s?.spirv, spirv(3));
  assert.equal(tagOf(sel.select('matmul', 'f16', { M: 2048, K: 2048 }, 1)), 1);
  assert.equal(tagOf(sel.select('matmul', 'f16', { M: 2048, K: 2048 }, 64)), 2);
  assert.equal(tagOf(sel.select('matmul', 'f16', { M: 4096, K: 4096 }, 8)), 4);

  // shape: same shape, nearest range by log distance.
  s = sel.select('matmul', 'f16', { M: 4096, K: 4096 }, 512);
  assert.equal(s?.level, 'shape');
  assert.equal(tagOf(s), 5);
  assert.equal(s?.entry.bucket, 'matmul/f16/M=4096,K=4096/N=9-32');

  // op: unknown shape, a range containing N, nearest shape (8192 from the second pack beats 2048).
  s = sel.select('matmul', 'f16', { M: 5000, K: 5000 }, 100);
  assert.equal(s?.level, 'op');
  assert.equal(tagOf(s), 10);
  assert.equal(s?.pack, dev2);
  s = sel.select('matmul', 'f16', { M: 1000, K: 1000 }, 4);
  assert.equal(s?.level, 'op');
  assert.equal(tagOf(s), 1);

  // default: no shaped entry for the instance / range.
  s = sel.select('matmul', 'f32', { M: 2048, K: 2048 }, 7);
  assert.equal(s?.level, 'default');
  assert.equal(tagOf(s), 22);
  assert.equal(s?.pack, def);
  s = sel.select('attention', 'f16', { D: 64, heads: 8, kvHeads: 8 }, 16, 100);
  assert.equal(s?.level, 'default');
  assert.equal(tagOf(s), 23);
  // Only the default pack: its wildcard ranges.
  const defOnly = new KernelSelector([def]);
  assert.equal(tagOf(defOnly.select('matmul', 'f16', { M: 2048, K: 2048 }, 3)), 20);
  assert.equal(tagOf(defOnly.select('matmul', 'f16', { M: 2048, K: 2048 }, 300)), 21);
  assert.equal(defOnly.select('matmul', 'f16', { M: 2048, K: 2048 }, 300)?.level, 'default');

  // depth ranges; depth undefined ignores them; out-of-range queries -> nearest at 'shape'.
  const att = { D: 128, heads: 32, kvHeads: 8 };
  assert.equal(tagOf(sel.select('attention', 'f16', att, 1, 512)), 6);
  assert.equal(tagOf(sel.select('attention', 'f16', att, 1, 4096)), 7);
  assert.equal(sel.select('attention', 'f16', att, 1, 4096)?.level, 'exact');
  assert.equal(tagOf(sel.select('attention', 'f16', att, 1)), 6);
  s = sel.select('attention', 'f16', att, 7, 3000);
  assert.equal(s?.level, 'shape');
  assert.equal(tagOf(s), 7);

  // nothing at all
  assert.equal(sel.select('rope', 'f32', { D: 128 }, 1), null);
  // memo returns the same object
  assert.equal(sel.select('matmul', 'f16', { M: 2048, K: 2048 }, 100), sel.select('matmul', 'f16', { K: 2048, M: 2048 }, 100));
});

test('selector: entries tuned under an older launch contract (abi) are skipped and reported', () => {
  const blobs = new Map<string, Uint8Array>();
  const old = entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [1, 8] }, 'matmul.vec', 1);  // no abi: version 1
  const cur = { ...entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [9, null] }, 'matmul.tile', 2), abi: 1 };
  const current = { ...entry(blobs, 'matmul', 'f16', { M: 4096, K: 4096 }, { N: [1, 8] }, 'matmul.vec', 3), abi: familyAbi(matmulVec) };
  const pack = createPack({ device: nvidia, toolchain, blobs, entries: [old, cur, current] });
  assert.ok(familyAbi(matmulVec) > 1, 'matmul.vec changed its launch contract (epilogues)');
  const sel = new KernelSelector([pack]);
  assert.equal(sel.stale.length, 1);
  assert.equal(sel.stale[0].entry, old);
  assert.match(sel.stale[0].reason, /matmul\.vec launch contract 1, this kpack has 2/);
  // The stale N=1 entry is gone: N=1 on 2048x2048 falls to the same shape's other entry ('shape' level).
  const s1 = sel.select('matmul', 'f16', { M: 2048, K: 2048 }, 1);
  assert.equal(s1?.entry.params.tag, 2);
  assert.equal(s1?.level, 'shape');
  assert.equal(sel.select('matmul', 'f16', { M: 2048, K: 2048 }, 100)?.entry.params.tag, 2);
});

test('selector: q8_0 / q4_0 entries from before the GPU weight layout are stale, the other instances of the family are not', () => {
  const blobs = new Map<string, Uint8Array>();
  const shape = { M: 2048, K: 2048 };
  const q4Old = { ...entry(blobs, 'matmul', 'q4_0', shape, { N: [1, 8] }, 'matmul.vec', 1), abi: familyAbi(matmulVec) };
  const q4New = { ...entry(blobs, 'matmul', 'q4_0', shape, { N: [9, null] }, 'matmul.vec', 2), abi: entryAbi(matmulVec, 'q4_0') };
  const f16 = { ...entry(blobs, 'matmul', 'f16', shape, { N: [1, 8] }, 'matmul.vec', 3), abi: familyAbi(matmulVec) };
  assert.equal(entryAbi(matmulVec, 'q4_0'), familyAbi(matmulVec) + 1);
  assert.equal(entryAbi(matmulVec, 'q4_k'), familyAbi(matmulVec));
  const sel = new KernelSelector([createPack({ device: nvidia, toolchain, blobs, entries: [q4Old, q4New, f16] })]);
  assert.deepEqual(sel.stale.map((s) => s.entry), [q4Old]);
  assert.match(sel.stale[0].reason, new RegExp(`launch contract ${familyAbi(matmulVec)}, this kpack has ${familyAbi(matmulVec) + 1}`));
  assert.equal(sel.select('matmul', 'f16', shape, 1)?.entry, f16);
  assert.equal(sel.select('matmul', 'q4_0', shape, 1)?.entry, q4New);
});

test('KernelSet: a pack entry without a parameter the family gained later launches with its default', () => {
  const blobs = new Map<string, Uint8Array>();
  const { UNROLL: _u, ...older } = matmulVec.defaults;
  const e = { ...entry(blobs, 'matmul', 'f16', { M: 2048, K: 2048 }, { N: [1, 8] }, 'matmul.vec', 1), params: { ...older, RPT: 4 }, abi: familyAbi(matmulVec) };
  const kernels = new KernelSet({} as Context, [createPack({ device: nvidia, toolchain, blobs, entries: [e] })]);  // choose() needs no device
  const req = { op: 'matmul' as const, instance: 'f16', shape: { M: 2048, N: 1, K: 2048 }, shapeKey: { M: 2048, K: 2048 }, batch: 1, depth: 0 };
  const { variant } = kernels.choose(req);
  assert.equal(variant.params.RPT, 4);
  assert.equal(variant.params.UNROLL, matmulVec.defaults.UNROLL);
});

test('KernelSet: an entry whose variant cannot run the call (matmul.vecq BQ 0 past its shared memory) is skipped, a BQ 1 one is not', () => {
  const blobs = new Map<string, Uint8Array>();
  const shapeKey = { M: 4096, K: 14336 };
  const vecq = (bq: number, tag: number) => ({
    ...entry(blobs, 'matmul', 'q4_0', shapeKey, { N: [1, 8] }, 'matmul.vecq', tag),
    params: { ...matmulVecq.defaults, BQ: bq, tag },
    abi: entryAbi(matmulVecq, 'q4_0'),
  });
  const fallback = { ...entry(blobs, 'matmul', 'q4_0', null, { N: [1, 8] }, 'matmul.vec', 9), params: { ...matmulVec.defaults, tag: 9 }, abi: entryAbi(matmulVec, 'q4_0') };
  const req = (N: number) => ({ op: 'matmul' as const, instance: 'q4_0', shape: { M: 4096, N, K: 14336 }, shapeKey, batch: N, depth: 0 });
  const bq0 = new KernelSet({} as Context, [createPack({ device: nvidia, toolchain, blobs, entries: [vecq(0, 1), fallback] })]);
  assert.equal(bq0.choose(req(1)).variant.family.id, 'matmul.vecq'); // N * K = 14336 fits
  assert.equal(bq0.choose(req(2)).variant.family.id, 'matmul.vec'); // 28672 does not: the op-level entry serves
  const bq1 = new KernelSet({} as Context, [createPack({ device: nvidia, toolchain, blobs, entries: [vecq(1, 2), fallback] })]);
  assert.equal(bq1.choose(req(8)).variant.family.id, 'matmul.vecq');
  assert.equal(bq1.choose(req(8)).variant.params.BQ, 1);
});

test('HIP results (autotune --backend hip|all) round-trip, are schema-checked and show in pack info', () => {
  const path = fresh();
  const base = samplePack();
  const hipEntry = {
    op: 'matmul',
    bucket: base.manifest.entries[1].bucket,
    instance: 'f16',
    family: 'matmul.vec',
    params: { WG: 256, RPT: 1, KSPLIT: 256, REDUCE: 1, VEC: 1, UNROLL: 1, BSTAGE: 0, WAVES_PER_EU: 0 },
    point: { M: 2048, N: 1, K: 2048 },
    medianNs: 9100,
    defaultMedianNs: 30000,
    relError: 1.1e-7,
    vulkanMedianNs: 8200,
    winner: 'vulkan' as const,
  };
  const hipTuning = { device: { name: 'NVIDIA H200', api: 'cuda' as const, arch: 'sm_90', warpSize: 32, driverVersion: '13.0' }, compiler: 'NVRTC 13.0', entries: [hipEntry] };
  const pack = createPack({ ...base.manifest, blobs: base.blobs, hip: hipTuning });
  writePack(path, pack);
  const back = readPack(path, { device: nvidia });
  assert.deepEqual(back.manifest.hip, hipTuning);
  const text = formatPackInfo(packInfo(back));
  assert.match(text, /hip +1 buckets tuned through cuda on NVIDIA H200 \(sm_90, NVRTC 13\.0\); HIP faster in 0 of 1 compared with Vulkan/);
  // a bad record is a schema error naming the field
  const bad = packToDocument(pack);
  (bad.hip!.entries[0] as { winner: string }).winner = 'opencl';
  writeFileSync(path, encodeDocument(bad));
  assert.throws(() => readPack(path), (e: Error) => e instanceof PackError && e.code === 'INVALID' && /hip\/entries\/0\/winner/.test(e.message));
});

test('findInstalledPack: matching device, newest wins, others and corrupt files skipped', () => {
  const dir = join(tmp, `installed${seq++}`);
  mkdirSync(dir);
  const a = createPack({ ...samplePack(nvidia).manifest, blobs: samplePack().blobs, createdAt: '2025-01-01T00:00:00.000Z' });
  const b = createPack({ ...samplePack(nvidia).manifest, blobs: samplePack().blobs, createdAt: '2025-06-01T00:00:00.000Z' });
  writePack(join(dir, 'a.kpack'), a);
  writePack(join(dir, 'b.kpack'), b);
  writePack(join(dir, 'amd.kpack'), samplePack(amd));
  writePack(join(dir, 'default.kpack'), samplePack(null));
  writeFileSync(join(dir, 'broken.kpack'), 'garbage');
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const warnings: string[] = [];
  const found = findInstalledPack([join(tmp, 'does-not-exist'), dir], nvidia, { warn: (m) => warnings.push(m) });
  assert.equal(found, join(dir, 'b.kpack'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /skipping kernel pack .*broken\.kpack/);
  assert.equal(findInstalledPack(dir, amd, { warn: () => {} }), join(dir, 'amd.kpack'));
  assert.equal(findInstalledPack(dir, { ...amd, deviceId: 1 }, { warn: () => {} }), null);
  // A full DeviceInfo works too.
  const info = { name: nvidia.deviceName, vendorId: nvidia.vendorId, deviceId: nvidia.deviceId, driverName: nvidia.driverName, driverInfo: '', driverVersion: nvidia.driverVersion, apiVersion: nvidia.apiVersion } as DeviceInfo;
  assert.equal(findInstalledPack(dir, info, { warn: () => {} }), join(dir, 'b.kpack'));
});
