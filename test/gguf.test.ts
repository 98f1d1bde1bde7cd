import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  GgufFile, GgmlType, GgufValueType, gv, writeGguf, ggmlTensorBytes, f32ToF16Bits, f16BitsToF32, GgufMetaValue,
} from '../runtime/gguf';

const SHARED = path.resolve(__dirname, '../../../shared');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kpack-gguf-'));

const norm = (_: string, x: unknown): unknown => typeof x === 'bigint' || typeof x === 'number' ? String(x) : ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<unknown>) : x;

function sampleMeta(): Array<[string, GgufMetaValue]> {
  return [
    ['general.architecture', gv.str('llama')],
    ['general.alignment', gv.u32(64)],
    ['t.u8', gv.u8(250)], ['t.i8', gv.i8(-7)], ['t.u16', gv.u16(65000)], ['t.i16', gv.i16(-30000)],
    ['t.u32', gv.u32(4000000000)], ['t.i32', gv.i32(-2000000000)], ['t.f32', gv.f32(1.5)], ['t.f64', gv.f64(Math.PI)],
    ['t.u64', gv.u64(123456789012345n)], ['t.u64big', gv.u64(18446744073709551615n)], ['t.i64', gv.i64(-5)],
    ['t.bool', gv.bool(true)], ['t.str', gv.str('héllo ▁ 🦙')],
    ['t.astr', gv.arr(GgufValueType.STRING, ['a', '', 'ü▁', '<0x0A>'])],
    ['t.af32', gv.arr(GgufValueType.FLOAT32, Float32Array.of(0.5, -2, 3.25))],
    ['t.ai32', gv.arr(GgufValueType.INT32, [1, -2, 3])],
    ['t.au8', gv.arr(GgufValueType.UINT8, [1, 2, 255])],
    ['t.abool', gv.arr(GgufValueType.BOOL, [true, false, true])],
    ['t.ai64', gv.arr(GgufValueType.INT64, [1n, -2n, -9007199254740993n])],
    ['t.anest', gv.arr(GgufValueType.ARRAY, [gv.arr(GgufValueType.UINT16, [7, 8]), gv.arr(GgufValueType.STRING, ['x'])])],
  ];
}

test('ggml type table sizes', () => {
  assert.equal(ggmlTensorBytes(GgmlType.F32, [10, 3]), 120);
  assert.equal(ggmlTensorBytes(GgmlType.F16, [10, 3]), 60);
  assert.equal(ggmlTensorBytes(GgmlType.BF16, [8]), 16);
  assert.equal(ggmlTensorBytes(GgmlType.Q4_0, [64, 2]), 2 * 2 * 18);
  assert.equal(ggmlTensorBytes(GgmlType.Q8_0, [4096, 4096]), 4096 * 128 * 34);
  assert.equal(ggmlTensorBytes(GgmlType.Q4_K, [4096, 14336]), 14336 * 16 * 144);
  assert.equal(ggmlTensorBytes(GgmlType.Q6_K, [256]), 210);
  assert.equal(ggmlTensorBytes(GgmlType.Q2_K, [256]), 84);
  assert.equal(ggmlTensorBytes(GgmlType.Q8_K, [256]), 292);
  assert.throws(() => ggmlTensorBytes(GgmlType.Q4_0, [33]), /multiple of the Q4_0 block size 32/);
});

test('f16 conversion', () => {
  for (const x of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.1]) {
    const y = f16BitsToF32(f32ToF16Bits(x));
    assert.ok(Math.abs(y - x) <= Math.abs(x) * 1e-3 + 1e-8, `${x} -> ${y}`);
  }
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(1e6), 0x7c00);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
});

test('write -> read round trip: every metadata type, F32/F16 tensors, alignment', () => {
  const out = path.join(tmp, 'rt.gguf');
  const a = Float32Array.from({ length: 6 * 5 }, (_, i) => i * 0.25 - 3);
  const h = Uint16Array.from({ length: 7 }, (_, i) => f32ToF16Bits(i - 3.5));
  const chunked = Float32Array.from({ length: 100 }, (_, i) => i);
  writeGguf(out, {
    metadata: sampleMeta(),
    tensors: [
      { name: 'a', dims: [6, 5], type: GgmlType.F32, data: new Uint8Array(a.buffer) },
      { name: 'h', dims: [7], type: GgmlType.F16, data: () => new Uint8Array(h.buffer) },
      { name: 'c', dims: [50, 2], type: GgmlType.F32, data: function* () { yield new Uint8Array(chunked.buffer, 0, 200); yield new Uint8Array(chunked.buffer, 200); } },
      { name: 'q', dims: [32, 2], type: GgmlType.Q8_0, data: new Uint8Array(68).fill(3) },
    ],
  });
  assert.ok(!fs.readdirSync(tmp).some((f) => f.includes('.tmp-')), 'temp file renamed away');
  for (const g of [GgufFile.open(out), GgufFile.fromBuffer(fs.readFileSync(out), out)]) {
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 64);
    assert.equal(g.dataOffset % 64, 0);
    for (const [k, v] of sampleMeta()) {
      const r = g.metadata.get(k)!;
      assert.equal(r.type, v.type, k);
      if (v.type === GgufValueType.ARRAY && r.type === GgufValueType.ARRAY) {
        assert.equal(r.itemType, v.itemType, k);
        assert.deepEqual(JSON.parse(JSON.stringify(Array.from(r.value as ArrayLike<unknown>), norm)),
          JSON.parse(JSON.stringify(Array.from(v.value as ArrayLike<unknown>), norm)), k);
      } else if (v.type === GgufValueType.UINT64 || v.type === GgufValueType.INT64) {
        assert.equal(BigInt(r.value as number | bigint), BigInt(v.value), k);
      } else assert.equal(r.value, v.value, k);
    }
    assert.equal(g.getString('t.str'), 'héllo ▁ 🦙');
    assert.equal(typeof g.get('t.u64big'), 'bigint');
    assert.equal(g.getNumber('t.u32'), 4000000000);
    assert.deepEqual(g.tensors.map((t) => [t.name, t.ne, t.type]), [['a', [6, 5], 0], ['h', [7], 1], ['c', [50, 2], 0], ['q', [32, 2], 8]]);
    for (const t of g.tensors) assert.equal(t.offset % 64, 0);
    assert.deepEqual(g.tensorF32('a'), a);
    assert.deepEqual(Array.from(g.tensorF32('h')), [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
    assert.deepEqual(g.tensorF32('c'), chunked);
    assert.deepEqual(Array.from(g.tensor('q')), new Array(68).fill(3));
    assert.throws(() => g.tensorF32('q'), /Q8_0/);
    assert.throws(() => g.tensor('nope'), /no tensor named nope/);
    g.close();
  }
  // file size = data offset + padded tensors
  const g = GgufFile.open(out);
  assert.equal(g.fileSize, g.dataOffset + 128 + 64 + 448 + 128);
  g.close();
});

test('writer: size mismatch throws and removes the temp file; duplicate names rejected', () => {
  const out = path.join(tmp, 'bad.gguf');
  assert.throws(() => writeGguf(out, { metadata: [], tensors: [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Uint8Array(12) }] }),
    /tensor x data has 12 bytes, expected 16/);
  assert.throws(() => writeGguf(out, { metadata: [], tensors: [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Uint8Array(20) }] }),
    /exceeds the 16 bytes/);
  assert.throws(() => writeGguf(out, { metadata: [], tensors: [
    { name: 'x', dims: [1], type: GgmlType.F32, data: new Uint8Array(4) }, { name: 'x', dims: [1], type: GgmlType.F32, data: new Uint8Array(4) }] }), /duplicate/);
  assert.ok(!fs.existsSync(out));
  assert.ok(!fs.readdirSync(tmp).some((f) => f.startsWith('bad.gguf')));
});

test('corrupt and truncated files give clear errors', () => {
  const good = path.join(tmp, 'good.gguf');
  writeGguf(good, { metadata: [['k', gv.str('v')]], tensors: [{ name: 't', dims: [64], type: GgmlType.F32, data: new Uint8Array(256) }] });
  const bytes = fs.readFileSync(good);
  const put = (name: string, b: Buffer) => { const p = path.join(tmp, name); fs.writeFileSync(p, b); return p; };
  const magic = Buffer.from(bytes); magic.write('GGML', 0, 'latin1');
  assert.throws(() => GgufFile.open(put('magic.gguf', magic)), /magic\.gguf: not a GGUF file \(bad magic "GGML"/);
  const ver = Buffer.from(bytes); ver.writeUInt32LE(7, 4);
  assert.throws(() => GgufFile.open(put('ver.gguf', ver)), /ver\.gguf: unsupported GGUF version 7 \(expected 3\)/);
  assert.throws(() => GgufFile.open(put('trunc.gguf', bytes.subarray(0, 30))), /trunc\.gguf: truncated GGUF file/);
  assert.throws(() => GgufFile.open(put('empty.gguf', Buffer.alloc(0))), /empty\.gguf: truncated GGUF file/);
  assert.throws(() => GgufFile.open(put('data.gguf', bytes.subarray(0, bytes.length - 10))), /data\.gguf: tensor t data out of range/);
  assert.throws(() => GgufFile.fromBuffer(bytes.subarray(0, 30), 'mem'), /mem: truncated/);
});

const vocabDir = path.join(SHARED, 'vocab');
test('reads llama.cpp-written vocab GGUFs', { skip: fs.existsSync(vocabDir) ? false : `${vocabDir} absent` }, () => {
  const spm = GgufFile.open(path.join(vocabDir, 'ggml-vocab-llama-spm.gguf'));
  assert.equal(spm.version, 3);
  assert.equal(spm.getString('tokenizer.ggml.model'), 'llama');
  assert.equal(spm.getString('general.architecture'), 'llama');
  assert.equal(spm.getArray('tokenizer.ggml.tokens')!.length, 32000);
  assert.equal((spm.getArray('tokenizer.ggml.tokens') as string[])[3], '<0x00>');
  assert.equal(spm.getArray('tokenizer.ggml.scores')!.length, 32000);
  assert.equal(spm.getNumber('tokenizer.ggml.bos_token_id'), 1);
  assert.equal(spm.getNumber('llama.embedding_length'), 4096);
  assert.equal(spm.tensors.length, 0);
  spm.close();
  const bpe = GgufFile.open(path.join(vocabDir, 'ggml-vocab-llama-bpe.gguf'));
  assert.equal(bpe.getString('tokenizer.ggml.model'), 'gpt2');
  assert.equal(bpe.getString('tokenizer.ggml.pre'), 'llama-bpe');
  assert.equal(bpe.getArray('tokenizer.ggml.tokens')!.length, 128256);
  assert.equal(bpe.getArray('tokenizer.ggml.merges')!.length, 280147);
  assert.equal(bpe.getNumber('tokenizer.ggml.bos_token_id'), 128000);
  assert.equal(bpe.getNumber('llama.rope.freq_base'), 500000);
  bpe.close();
});
