/**
 * GGUF reader (version 2/3, little-endian). Parses header, metadata and tensor infos from the start of
 * the file; tensor data is read lazily, one tensor at a time, with fs.readSync (files may be many GB).
 */
import * as fs from 'fs';
import {
  GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufArrayValue, GgufMetaValue, GgufValueType,
  ggmlTensorBytes, numElements,
} from './types';
import { bf16ArrayToF32, f16ArrayToF32 } from './f16';

/** One tensor's header entry. `ne[0]` is the contiguous dimension; `offset` is relative to `dataOffset`. */
export interface GgufTensorInfo {
  name: string;
  /** ggml dims, ne[0] contiguous (e.g. a [out, in] row-major matrix has ne = [in, out]). */
  ne: number[];
  type: GgmlType;
  /** offset of the data from the start of the data section (bytes). */
  offset: number;
  /** byte size computed from ne and the type table. */
  nbytes: number;
}

class NeedMore extends Error {}

class Cursor {
  pos = 0;
  private dv: DataView;
  constructor(private buf: Buffer) { this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength); }
  private need(n: number) { if (this.pos + n > this.buf.length) throw new NeedMore(); }
  u8() { this.need(1); return this.dv.getUint8(this.pos++); }
  i8() { this.need(1); return this.dv.getInt8(this.pos++); }
  u16() { this.need(2); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  i16() { this.need(2); const v = this.dv.getInt16(this.pos, true); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32() { this.need(4); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  f32() { this.need(4); const v = this.dv.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64() { this.need(8); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64(): number | bigint { this.need(8); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return small(v); }
  i64(): number | bigint { this.need(8); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return small(v); }
  /** u64 that must fit a JS number (counts, sizes). */
  count(what: string): number {
    const v = this.u64();
    if (typeof v === 'bigint') throw new Error(`${what} ${v} is too large`);
    return v;
  }
  str(): string {
    const n = this.count('string length');
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  bytes(n: number): Buffer { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
}

function small(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function readScalar(c: Cursor, t: GgufValueType): number | bigint | boolean | string {
  switch (t) {
    case GgufValueType.UINT8: return c.u8();
    case GgufValueType.INT8: return c.i8();
    case GgufValueType.UINT16: return c.u16();
    case GgufValueType.INT16: return c.i16();
    case GgufValueType.UINT32: return c.u32();
    case GgufValueType.INT32: return c.i32();
    case GgufValueType.FLOAT32: return c.f32();
    case GgufValueType.FLOAT64: return c.f64();
    case GgufValueType.UINT64: return c.u64();
    case GgufValueType.INT64: return c.i64();
    case GgufValueType.BOOL: return c.u8() !== 0;
    case GgufValueType.STRING: return c.str();
    default: throw new Error(`unknown metadata value type ${t}`);
  }
}

const TYPED: Partial<Record<GgufValueType, { new (b: ArrayBuffer): any; BYTES_PER_ELEMENT: number }>> = {
  [GgufValueType.UINT8]: Uint8Array, [GgufValueType.INT8]: Int8Array, [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array, [GgufValueType.UINT32]: Uint32Array, [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array, [GgufValueType.FLOAT64]: Float64Array,
};

function readValue(c: Cursor, t: GgufValueType): GgufMetaValue {
  if (t !== GgufValueType.ARRAY) return { type: t, value: readScalar(c, t) } as GgufMetaValue;
  const itemType = c.u32() as GgufValueType;
  const n = c.count('array length');
  const Ctor = TYPED[itemType];
  let value: GgufArrayValue;
  if (Ctor) {
    const raw = c.bytes(n * Ctor.BYTES_PER_ELEMENT);
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    value = new Ctor(copy.buffer); // copy: aligned, independent of the header buffer
  } else if (itemType === GgufValueType.ARRAY) {
    const items: GgufMetaValue[] = [];
    for (let i = 0; i < n; i++) items.push(readValue(c, GgufValueType.ARRAY));
    value = items;
  } else {
    if (itemType > GgufValueType.FLOAT64) throw new Error(`unknown array item type ${itemType}`);
    const items: any[] = new Array(n);
    for (let i = 0; i < n; i++) items[i] = readScalar(c, itemType);
    value = items;
  }
  return { type: GgufValueType.ARRAY, itemType, value };
}

interface Parsed {
  version: number;
  metadata: Map<string, GgufMetaValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
}

function parseHeader(buf: Buffer, file: string): Parsed {
  const c = new Cursor(buf);
  if (buf.length >= 4 && buf.readUInt32LE(0) !== GGUF_MAGIC) {
    throw new Error(`${file}: not a GGUF file (bad magic ${JSON.stringify(buf.toString('latin1', 0, 4))}, expected "GGUF")`);
  }
  c.u32();
  const version = c.u32();
  if (version !== 2 && version !== 3) throw new Error(`${file}: unsupported GGUF version ${version} (expected 3)`);
  const nTensors = c.count('tensor count');
  const nKv = c.count('metadata count');
  const metadata = new Map<string, GgufMetaValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    const t = c.u32() as GgufValueType;
    if (t > GgufValueType.FLOAT64) throw new Error(`${file}: metadata key ${key} has unknown value type ${t}`);
    metadata.set(key, readValue(c, t));
  }
  const al = metadata.get('general.alignment');
  const alignment = al && typeof al.value === 'number' ? al.value : GGUF_DEFAULT_ALIGNMENT;
  if (!(alignment > 0 && (alignment & (alignment - 1)) === 0)) throw new Error(`${file}: bad general.alignment ${alignment}`);
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str();
    const nd = c.u32();
    if (nd > 4) throw new Error(`${file}: tensor ${name} has ${nd} dims (max 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(c.count(`tensor ${name} dim`));
    const type = c.u32();
    if (!GGML_TYPES[type]) throw new Error(`${file}: tensor ${name} has unknown ggml type ${type}`);
    const offset = c.count(`tensor ${name} offset`);
    if (offset % alignment !== 0) throw new Error(`${file}: tensor ${name} offset ${offset} is not a multiple of alignment ${alignment}`);
    let nbytes: number;
    try { nbytes = ggmlTensorBytes(type, ne); } catch (e) { throw new Error(`${file}: tensor ${name}: ${(e as Error).message}`); }
    tensors.push({ name, ne, type, offset, nbytes });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  return { version, metadata, tensors, alignment, dataOffset };
}

/**
 * An open GGUF file. Header, metadata and tensor infos are parsed at open; tensor bytes are read on demand.
 * Call close() when done (file-backed instances hold a file descriptor).
 */
export class GgufFile {
  readonly version: number;
  readonly metadata: Map<string, GgufMetaValue>;
  readonly tensors: GgufTensorInfo[];
  readonly alignment: number;
  /** absolute byte offset of the data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
  private byName = new Map<string, GgufTensorInfo>();
  private fd: number | undefined;
  private buf: Buffer | undefined;

  private constructor(readonly path: string, p: Parsed, fileSize: number, fd?: number, buf?: Buffer) {
    this.version = p.version; this.metadata = p.metadata; this.tensors = p.tensors;
    this.alignment = p.alignment; this.dataOffset = p.dataOffset; this.fileSize = fileSize;
    this.fd = fd; this.buf = buf;
    for (const t of p.tensors) {
      if (this.byName.has(t.name)) throw new Error(`${path}: duplicate tensor name ${t.name}`);
      this.byName.set(t.name, t);
      const end = p.dataOffset + t.offset + t.nbytes;
      if (end > fileSize) {
        throw new Error(`${path}: tensor ${t.name} data out of range (bytes ${p.dataOffset + t.offset}..${end} but the file has ${fileSize} bytes; truncated?)`);
      }
    }
  }

  /** Open a GGUF file from disk; reads only the header (growing the read window as needed). */
  static open(path: string): GgufFile {
    const fd = fs.openSync(path, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      let window = Math.min(size, 1 << 20);
      for (;;) {
        const buf = Buffer.alloc(window);
        fs.readSync(fd, buf, 0, window, 0);
        try {
          return new GgufFile(path, parseHeader(buf, path), size, fd);
        } catch (e) {
          if (!(e instanceof NeedMore)) throw e;
          if (window >= size) throw new Error(`${path}: truncated GGUF file (header/metadata ends past the end of the ${size}-byte file)`);
          window = Math.min(size, window * 4);
        }
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Parse a GGUF held in memory (small files, tests). `name` is used in error messages. */
  static fromBuffer(buf: Buffer, name = '<buffer>'): GgufFile {
    try {
      return new GgufFile(name, parseHeader(buf, name), buf.length, undefined, buf);
    } catch (e) {
      if (e instanceof NeedMore) throw new Error(`${name}: truncated GGUF file (header/metadata ends past the end of the ${buf.length}-byte buffer)`);
      throw e;
    }
  }

  close(): void {
    if (this.fd !== undefined) { fs.closeSync(this.fd); this.fd = undefined; }
  }

  has(key: string): boolean { return this.metadata.has(key); }

  /** Raw metadata value (number, bigint, boolean, string, or array payload), or undefined. */
  get(key: string): unknown { return this.metadata.get(key)?.value; }

  /** Metadata string; throws naming the file and key if absent (and no default) or not a string. */
  getString(key: string, dflt?: string): string {
    const v = this.metadata.get(key);
    if (!v) { if (dflt !== undefined) return dflt; throw new Error(`${this.path}: missing metadata key ${key}`); }
    if (v.type !== GgufValueType.STRING) throw new Error(`${this.path}: metadata ${key} is not a string`);
    return v.value;
  }

  /** Metadata number (any integer/float type); throws if absent (and no default) or not numeric. */
  getNumber(key: string, dflt?: number): number {
    const v = this.metadata.get(key);
    if (!v) { if (dflt !== undefined) return dflt; throw new Error(`${this.path}: missing metadata key ${key}`); }
    if (typeof v.value === 'number') return v.value;
    if (typeof v.value === 'bigint') return Number(v.value);
    throw new Error(`${this.path}: metadata ${key} is not a number`);
  }

  getBool(key: string, dflt?: boolean): boolean {
    const v = this.metadata.get(key);
    if (!v) { if (dflt !== undefined) return dflt; throw new Error(`${this.path}: missing metadata key ${key}`); }
    if (typeof v.value !== 'boolean') throw new Error(`${this.path}: metadata ${key} is not a bool`);
    return v.value;
  }

  /** Metadata array payload, or undefined when absent; throws if present but not an array. */
  getArray(key: string): GgufArrayValue | undefined {
    const v = this.metadata.get(key);
    if (!v) return undefined;
    if (v.type !== GgufValueType.ARRAY) throw new Error(`${this.path}: metadata ${key} is not an array`);
    return v.value;
  }

  tensorInfo(name: string): GgufTensorInfo | undefined { return this.byName.get(name); }

  /** A tensor's raw bytes (nbytes = ggmlTensorBytes(type, ne)). Throws if the tensor is absent. */
  tensor(name: string): Uint8Array {
    const t = this.byName.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named ${name}`);
    const start = this.dataOffset + t.offset;
    if (this.buf) return this.buf.subarray(start, start + t.nbytes);
    if (this.fd === undefined) throw new Error(`${this.path}: file is closed`);
    const out = Buffer.allocUnsafe(t.nbytes);
    let done = 0;
    while (done < t.nbytes) {
      const n = fs.readSync(this.fd, out, done, Math.min(t.nbytes - done, 1 << 30), start + done);
      if (n <= 0) throw new Error(`${this.path}: tensor ${name} data out of range (short read at byte ${start + done})`);
      done += n;
    }
    return out;
  }

  /** A tensor's values as float32 (F32 copied, F16/BF16 converted); other types throw. Length = prod(ne). */
  tensorF32(name: string): Float32Array {
    const t = this.byName.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named ${name}`);
    const raw = this.tensor(name);
    const bytes = new Uint8Array(raw.length);
    bytes.set(raw);
    const n = numElements(t.ne);
    switch (t.type) {
      case GgmlType.F32: return new Float32Array(bytes.buffer, 0, n);
      case GgmlType.F16: return f16ArrayToF32(new Uint16Array(bytes.buffer, 0, n));
      case GgmlType.BF16: return bf16ArrayToF32(new Uint16Array(bytes.buffer, 0, n));
      default: throw new Error(`${this.path}: tensor ${name} is ${GGML_TYPES[t.type].name}; only F32/F16/BF16 can be read as float32`);
    }
  }
}
