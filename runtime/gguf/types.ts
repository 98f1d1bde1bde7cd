/**
 * GGUF value types and the ggml tensor type table (type id -> block size, bytes per block).
 * Source of truth: ggml/docs/gguf.md and ggml.c's type_traits (GGUF version 3, little-endian).
 */

/** GGUF metadata value type ids (gguf_type). */
export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor element/block type ids (enum ggml_type). */
export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
}

/** Block layout of one ggml type: `blockSize` elements are stored in `typeSize` bytes. */
export interface GgmlTypeInfo { name: string; blockSize: number; typeSize: number }

const T = (name: string, blockSize: number, typeSize: number): GgmlTypeInfo => ({ name, blockSize, typeSize });

/** ggml type table (ggml.c type_traits: blck_size, type_size). */
export const GGML_TYPES: Readonly<Record<number, GgmlTypeInfo>> = {
  [GgmlType.F32]: T('F32', 1, 4), [GgmlType.F16]: T('F16', 1, 2),
  [GgmlType.Q4_0]: T('Q4_0', 32, 18), [GgmlType.Q4_1]: T('Q4_1', 32, 20),
  [GgmlType.Q5_0]: T('Q5_0', 32, 22), [GgmlType.Q5_1]: T('Q5_1', 32, 24),
  [GgmlType.Q8_0]: T('Q8_0', 32, 34), [GgmlType.Q8_1]: T('Q8_1', 32, 36),
  [GgmlType.Q2_K]: T('Q2_K', 256, 84), [GgmlType.Q3_K]: T('Q3_K', 256, 110),
  [GgmlType.Q4_K]: T('Q4_K', 256, 144), [GgmlType.Q5_K]: T('Q5_K', 256, 176),
  [GgmlType.Q6_K]: T('Q6_K', 256, 210), [GgmlType.Q8_K]: T('Q8_K', 256, 292),
  [GgmlType.IQ2_XXS]: T('IQ2_XXS', 256, 66), [GgmlType.IQ2_XS]: T('IQ2_XS', 256, 74),
  [GgmlType.IQ3_XXS]: T('IQ3_XXS', 256, 98), [GgmlType.IQ1_S]: T('IQ1_S', 256, 50),
  [GgmlType.IQ4_NL]: T('IQ4_NL', 32, 18), [GgmlType.IQ3_S]: T('IQ3_S', 256, 110),
  [GgmlType.IQ2_S]: T('IQ2_S', 256, 82), [GgmlType.IQ4_XS]: T('IQ4_XS', 256, 136),
  [GgmlType.I8]: T('I8', 1, 1), [GgmlType.I16]: T('I16', 1, 2), [GgmlType.I32]: T('I32', 1, 4),
  [GgmlType.I64]: T('I64', 1, 8), [GgmlType.F64]: T('F64', 1, 8), [GgmlType.IQ1_M]: T('IQ1_M', 256, 56),
  [GgmlType.BF16]: T('BF16', 1, 2), [GgmlType.TQ1_0]: T('TQ1_0', 256, 54), [GgmlType.TQ2_0]: T('TQ2_0', 256, 66),
  [GgmlType.MXFP4]: T('MXFP4', 32, 17),
};

/** Type info for a ggml type id; throws for ids not in the table. */
export function ggmlTypeInfo(type: number): GgmlTypeInfo {
  const info = GGML_TYPES[type];
  if (!info) throw new Error(`unknown ggml type id ${type}`);
  return info;
}

/**
 * Bytes taken by a tensor of ggml type `type` with dims `ne` (ne[0] contiguous).
 * Throws when ne[0] is not a multiple of the type's block size.
 */
export function ggmlTensorBytes(type: number, ne: readonly number[]): number {
  const info = ggmlTypeInfo(type);
  const n0 = ne.length ? ne[0] : 1;
  if (n0 % info.blockSize !== 0) {
    throw new Error(`ne[0]=${n0} is not a multiple of the ${info.name} block size ${info.blockSize}`);
  }
  let rows = 1;
  for (let i = 1; i < ne.length; i++) rows *= ne[i];
  return (n0 / info.blockSize) * info.typeSize * rows;
}

/** Number of elements of a tensor with dims `ne`. */
export function numElements(ne: readonly number[]): number {
  return ne.reduce((a, b) => a * b, 1);
}

/** A typed GGUF metadata value. Arrays carry `itemType`; nested arrays hold GgufValue items. */
export type GgufMetaValue =
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.UINT64 | GgufValueType.INT64; value: number | bigint }
  | { type: Exclude<GgufValueType, GgufValueType.STRING | GgufValueType.BOOL | GgufValueType.UINT64 | GgufValueType.INT64 | GgufValueType.ARRAY>; value: number }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: GgufArrayValue };

/** Array payloads: typed arrays for fixed-size numeric items, JS arrays for strings, bools, 64-bit ints, nested arrays. */
export type GgufArrayValue =
  | string[] | boolean[] | number[] | bigint[] | (number | bigint)[] | GgufMetaValue[]
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** Helpers to build typed metadata values for the writer. */
export const gv = {
  str: (value: string): GgufMetaValue => ({ type: GgufValueType.STRING, value }),
  bool: (value: boolean): GgufMetaValue => ({ type: GgufValueType.BOOL, value }),
  u8: (value: number): GgufMetaValue => ({ type: GgufValueType.UINT8, value }),
  i8: (value: number): GgufMetaValue => ({ type: GgufValueType.INT8, value }),
  u16: (value: number): GgufMetaValue => ({ type: GgufValueType.UINT16, value }),
  i16: (value: number): GgufMetaValue => ({ type: GgufValueType.INT16, value }),
  u32: (value: number): GgufMetaValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufMetaValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufMetaValue => ({ type: GgufValueType.FLOAT32, value }),
  f64: (value: number): GgufMetaValue => ({ type: GgufValueType.FLOAT64, value }),
  u64: (value: number | bigint): GgufMetaValue => ({ type: GgufValueType.UINT64, value }),
  i64: (value: number | bigint): GgufMetaValue => ({ type: GgufValueType.INT64, value }),
  arr: (itemType: GgufValueType, value: GgufArrayValue): GgufMetaValue => ({ type: GgufValueType.ARRAY, itemType, value }),
};

/** Element size in bytes of fixed-size GGUF value types (strings/arrays are variable: undefined). */
export const GGUF_SCALAR_SIZE: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4, [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8, [GgufValueType.FLOAT64]: 8,
};

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian uint32
export const GGUF_DEFAULT_ALIGNMENT = 32;
