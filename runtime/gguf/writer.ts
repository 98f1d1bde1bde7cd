/**
 * Streaming, atomic GGUF v3 writer. Writes `<out>.tmp-<pid>` then renames; the temp file is removed on error.
 * Tensor data is written one tensor (or one chunk) at a time, so multi-GB files never sit in memory.
 */
import * as fs from 'fs';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufMetaValue, GgufValueType, ggmlTensorBytes, ggmlTypeInfo } from './types';

/** Tensor data source: bytes, or a function returning bytes or an iterable of byte chunks (called once, at write time). */
export type TensorData = Uint8Array | (() => Uint8Array | Iterable<Uint8Array>);

/** A tensor to write. `dims` in ggml order (dims[0] contiguous); data length must equal ggmlTensorBytes(type, dims). */
export interface GgufWriteTensor { name: string; dims: number[]; type: GgmlType; data: TensorData }

export interface GgufWriteOptions {
  /** metadata in insertion order (Map, array of pairs, or record); general.alignment is used if present. */
  metadata: Map<string, GgufMetaValue> | Array<[string, GgufMetaValue]> | Record<string, GgufMetaValue>;
  tensors: GgufWriteTensor[];
  /** tensor data alignment (default: general.alignment from metadata, else 32). */
  alignment?: number;
}

/** Growable little-endian byte builder for the header. */
class Builder {
  buf = Buffer.alloc(1 << 16);
  len = 0;
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const nb = Buffer.alloc(cap);
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }
  u8(v: number) { this.ensure(1); this.buf.writeUInt8(v, this.len); this.len += 1; }
  i8(v: number) { this.ensure(1); this.buf.writeInt8(v, this.len); this.len += 1; }
  u16(v: number) { this.ensure(2); this.buf.writeUInt16LE(v, this.len); this.len += 2; }
  i16(v: number) { this.ensure(2); this.buf.writeInt16LE(v, this.len); this.len += 2; }
  u32(v: number) { this.ensure(4); this.buf.writeUInt32LE(v, this.len); this.len += 4; }
  i32(v: number) { this.ensure(4); this.buf.writeInt32LE(v, this.len); this.len += 4; }
  f32(v: number) { this.ensure(4); this.buf.writeFloatLE(v, this.len); this.len += 4; }
  f64(v: number) { this.ensure(8); this.buf.writeDoubleLE(v, this.len); this.len += 8; }
  u64(v: number | bigint) { this.ensure(8); this.buf.writeBigUInt64LE(BigInt(v), this.len); this.len += 8; }
  i64(v: number | bigint) { this.ensure(8); this.buf.writeBigInt64LE(BigInt(v), this.len); this.len += 8; }
  bytes(b: Uint8Array) { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); }
}

function writeScalar(b: Builder, t: GgufValueType, v: unknown, key: string) {
  switch (t) {
    case GgufValueType.UINT8: return b.u8(v as number);
    case GgufValueType.INT8: return b.i8(v as number);
    case GgufValueType.UINT16: return b.u16(v as number);
    case GgufValueType.INT16: return b.i16(v as number);
    case GgufValueType.UINT32: return b.u32(v as number);
    case GgufValueType.INT32: return b.i32(v as number);
    case GgufValueType.FLOAT32: return b.f32(v as number);
    case GgufValueType.FLOAT64: return b.f64(v as number);
    case GgufValueType.UINT64: return b.u64(v as number | bigint);
    case GgufValueType.INT64: return b.i64(v as number | bigint);
    case GgufValueType.BOOL: return b.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof v !== 'string') throw new Error(`metadata ${key}: expected a string`);
      return b.str(v);
    default: throw new Error(`metadata ${key}: unknown value type ${t}`);
  }
}

function writeValue(b: Builder, v: GgufMetaValue, key: string) {
  if (v.type !== GgufValueType.ARRAY) return writeScalar(b, v.type, v.value, key);
  b.u32(v.itemType);
  const items = v.value as ArrayLike<unknown>;
  b.u64(items.length);
  for (let i = 0; i < items.length; i++) {
    if (v.itemType === GgufValueType.ARRAY) writeValue(b, items[i] as GgufMetaValue, key); // item = {type, len, items}
    else writeScalar(b, v.itemType, items[i], key);
  }
}

/** Serialize header + metadata + tensor infos; returns the header (padded to alignment) and each tensor's byte size. */
export function buildGgufHeader(meta: Array<[string, GgufMetaValue]>, tensors: Array<{ name: string; dims: number[]; type: GgmlType }>, alignment: number): { header: Buffer; sizes: number[] } {
  const b = new Builder();
  b.u32(GGUF_MAGIC); b.u32(3); b.u64(tensors.length); b.u64(meta.length);
  for (const [k, v] of meta) {
    b.str(k); b.u32(v.type);
    writeValue(b, v, k);
  }
  const sizes: number[] = [];
  let off = 0;
  for (const t of tensors) {
    ggmlTypeInfo(t.type);
    const size = ggmlTensorBytes(t.type, t.dims);
    b.str(t.name); b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type); b.u64(off);
    sizes.push(size);
    off += Math.ceil(size / alignment) * alignment;
  }
  const padded = Math.ceil(b.len / alignment) * alignment;
  const header = Buffer.alloc(padded);
  b.buf.copy(header, 0, 0, b.len);
  return { header, sizes };
}

/**
 * Write a GGUF v3 file atomically. Tensors are written in the given order, each padded to `alignment`.
 * Throws (and removes the temp file) when a tensor's data size differs from its dims/type, on duplicate names,
 * or on I/O errors.
 */
export function writeGguf(outPath: string, opts: GgufWriteOptions): void {
  const meta: Array<[string, GgufMetaValue]> = opts.metadata instanceof Map ? [...opts.metadata]
    : Array.isArray(opts.metadata) ? opts.metadata : Object.entries(opts.metadata);
  const alMeta = meta.find(([k]) => k === 'general.alignment');
  const alignment = opts.alignment ?? (alMeta ? Number(alMeta[1].value) : GGUF_DEFAULT_ALIGNMENT);
  if (!(alignment > 0 && (alignment & (alignment - 1)) === 0)) throw new Error(`${outPath}: bad alignment ${alignment}`);
  if (opts.alignment !== undefined && alMeta && Number(alMeta[1].value) !== alignment) {
    throw new Error(`${outPath}: alignment ${alignment} disagrees with general.alignment ${alMeta[1].value}`);
  }
  if (opts.alignment !== undefined && opts.alignment !== GGUF_DEFAULT_ALIGNMENT && !alMeta) {
    meta.push(['general.alignment', { type: GgufValueType.UINT32, value: alignment }]);
  }
  const names = new Set<string>();
  for (const t of opts.tensors) {
    if (names.has(t.name)) throw new Error(`${outPath}: duplicate tensor name ${t.name}`);
    names.add(t.name);
  }
  const { header, sizes } = buildGgufHeader(meta, opts.tensors, alignment);
  const tmp = `${outPath}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  let ok = false;
  try {
    let pos = 0;
    const put = (b: Uint8Array) => {
      let done = 0;
      while (done < b.length) { done += fs.writeSync(fd, b, done, b.length - done, pos + done); }
      pos += b.length;
    };
    put(header);
    const zeros = Buffer.alloc(alignment);
    opts.tensors.forEach((t, i) => {
      const src = typeof t.data === 'function' ? t.data() : t.data;
      const chunks: Iterable<Uint8Array> = src instanceof Uint8Array ? [src] : src;
      let written = 0;
      for (const c of chunks) {
        if (written + c.length > sizes[i]) {
          throw new Error(`${outPath}: tensor ${t.name} data exceeds the ${sizes[i]} bytes expected for dims [${t.dims}] type ${ggmlTypeInfo(t.type).name}`);
        }
        put(c);
        written += c.length;
      }
      if (written !== sizes[i]) {
        throw new Error(`${outPath}: tensor ${t.name} data has ${written} bytes, expected ${sizes[i]} for dims [${t.dims}] type ${ggmlTypeInfo(t.type).name}`);
      }
      const pad = (alignment - (sizes[i] % alignment)) % alignment;
      if (pad) put(zeros.subarray(0, pad));
    });
    fs.fsyncSync(fd);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) { try { fs.unlinkSync(tmp); } catch { /* already gone */ } }
  }
  fs.renameSync(tmp, outPath);
}
