/**
 * Llama weights on the GPU: every tensor uploaded once, in its file dtype (f32, f16, or ggml blocks; q8_0 /
 * q4_0 blocks regrouped into kpack's GPU layout, generator/weight-layout.ts); matmul and embed kernels
 * dequantize in registers (no dequantized copy).
 */
import type { WeightType } from '../../generator/ops';
import { toGpuLayout } from '../../generator/weight-layout';
import type { Context, GpuBuffer } from '../../native/vulkan/api';
import type { LlamaConfig } from '../model-config';

/**
 * A weight tensor on the GPU with its storage type (the kernel instance key) and its [rows, cols];
 * cols is the element count per row (K), also for block-quantized types.
 */
export interface GpuTensor {
  buffer: GpuBuffer;
  type: string;
  rows: number;
  cols: number;
}

export interface LayerWeights {
  attnNorm: GpuTensor;
  /**
   * The Q, K, V projections: one matrix with their rows stacked ([qDim + 2*kvDim] x dim, one product
   * per step) when the three share a storage type, else the three matrices [wq, wk, wv] (e.g. Q4_K_M
   * files, whose attn_v is Q6_K in some layers).
   */
  qkv: GpuTensor[];
  wo: GpuTensor;
  ffnNorm: GpuTensor;
  /** Gate and up projections: one matrix, gate rows then up rows ([2*ffnDim] x dim), when they share a type, else [wGate, wUp]. */
  gateUp: GpuTensor[];
  wDown: GpuTensor;
}

export interface LlamaWeights {
  tokenEmbedding: GpuTensor;
  layers: LayerWeights[];
  outputNorm: GpuTensor;
  /** The output head; the token embedding itself when the model ties them. */
  output: GpuTensor;
  /** Bytes uploaded. */
  bytes: number;
}

/** What the loader needs from a model file: a tensor's dtype name, ggml dims (ne0 first) and bytes. */
export interface TensorSource {
  has(name: string): boolean;
  info(name: string): { type: string; dims: number[] };
  data(name: string): Uint8Array;
}

/** Tensor types with matmul (matmul.vec / matmul.tile) and embed kernel instances. */
export const SUPPORTED_WEIGHT_TYPES: readonly string[] = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'];
const SUPPORTED = new Set(SUPPORTED_WEIGHT_TYPES);

/**
 * Upload a Llama model's tensors (names as llama.cpp writes them) to device buffers.
 * @throws Error naming the tensor whose type is not one of SUPPORTED_WEIGHT_TYPES.
 */
export function uploadWeights(ctx: Context, src: TensorSource, cfg: LlamaConfig): LlamaWeights {
  let bytes = 0;
  const load = (name: string): GpuTensor => {
    const { type, dims } = src.info(name);
    if (!SUPPORTED.has(type)) {
      throw new Error(`tensor ${name} has type ${type}; this build runs ${SUPPORTED_WEIGHT_TYPES.join(', ')} weights`);
    }
    const data = toGpuLayout(type as WeightType, src.data(name));
    const buffer = ctx.createBuffer(data.byteLength);
    ctx.upload(buffer, data);
    bytes += data.byteLength;
    return { buffer, type, cols: dims[0], rows: dims.length > 1 ? dims.slice(1).reduce((a, b) => a * b, 1) : 1 };
  };
  /** Matrices with the same type and row length stacked row-wise into one buffer (rows concatenate: every format stores rows contiguously). */
  const stacked = (names: string[]): GpuTensor[] => {
    const infos = names.map((n) => src.info(n));
    const same = infos.every((i) => i.type === infos[0].type && i.dims[0] === infos[0].dims[0]);
    if (!same) return names.map(load);
    if (!SUPPORTED.has(infos[0].type)) load(names[0]);  // throws the unsupported-type error
    const parts = names.map((n) => src.data(n));
    // regrouped after stacking: block indices run on across the matrices
    const data = toGpuLayout(infos[0].type as WeightType, parts.length === 1 ? parts[0] : Buffer.concat(parts));
    const buffer = ctx.createBuffer(data.byteLength);
    ctx.upload(buffer, data);
    bytes += data.byteLength;
    const rows = infos.reduce((a, i) => a + (i.dims.length > 1 ? i.dims.slice(1).reduce((x, y) => x * y, 1) : 1), 0);
    return [{ buffer, type: infos[0].type, cols: infos[0].dims[0], rows }];
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: load(p + 'attn_norm.weight'),
      qkv: stacked([p + 'attn_q.weight', p + 'attn_k.weight', p + 'attn_v.weight']),
      wo: load(p + 'attn_output.weight'),
      ffnNorm: load(p + 'ffn_norm.weight'),
      gateUp: stacked([p + 'ffn_gate.weight', p + 'ffn_up.weight']),
      wDown: load(p + 'ffn_down.weight'),
    });
  }
  const tokenEmbedding = load('token_embd.weight');
  const outputNorm = load('output_norm.weight');
  const output = src.has('output.weight') ? load('output.weight') : tokenEmbedding;
  return { tokenEmbedding, layers, outputNorm, output, bytes };
}

/** Release every buffer of a weight set. */
export function destroyWeights(w: LlamaWeights): void {
  const seen = new Set<GpuBuffer>();
  const all = [w.tokenEmbedding, w.outputNorm, w.output, ...w.layers.flatMap((l) => [l.attnNorm, ...l.qkv, l.wo, l.ffnNorm, ...l.gateUp, l.wDown])];
  for (const t of all) if (!seen.has(t.buffer)) (seen.add(t.buffer), t.buffer.destroy());
}
