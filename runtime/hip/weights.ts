/**
 * Llama weights on a HIP context: the same tensors, stacking and GPU layout as the Vulkan loader
 * (runtime/model/weights.ts uploadWeights, which it runs through an adapter: q8_0 / q4_0 regrouped by
 * generator/weight-layout.ts, everything else as stored), each buffer rounded up to a multiple of 16
 * bytes so the kernels' 32-bit and 128-bit loads of a tensor's last block stay inside it.
 */
import type { GpuBuffer, HipContext } from '../../native/hip/api';
import type { Context } from '../../native/vulkan/api';
import type { LlamaConfig } from '../model-config';
import { type TensorSource, uploadWeights } from '../model/weights';

/** A weight tensor on a HIP context: storage type (kernel instance key), [rows, cols] (cols = K, elements). */
export interface HipTensor {
  buffer: GpuBuffer;
  type: string;
  rows: number;
  cols: number;
}

export interface HipLayerWeights {
  attnNorm: HipTensor;
  /** [Wq|Wk|Wv] stacked when they share a type, else the three (runtime/model/weights.ts LayerWeights). */
  qkv: HipTensor[];
  wo: HipTensor;
  ffnNorm: HipTensor;
  /** [Wgate|Wup] stacked when they share a type, else the two. */
  gateUp: HipTensor[];
  wDown: HipTensor;
}

export interface HipLlamaWeights {
  tokenEmbedding: HipTensor;
  layers: HipLayerWeights[];
  outputNorm: HipTensor;
  /** The output head; the token embedding itself when tied. */
  output: HipTensor;
  /** Bytes uploaded (the tensors' bytes, before the 16-byte rounding). */
  bytes: number;
}

/**
 * Upload a Llama model's tensors to `ctx` (module doc).
 * @throws Error naming the tensor whose type has no kernels (as uploadWeights), or the driver error.
 */
export function uploadHipWeights(ctx: HipContext, src: TensorSource, cfg: LlamaConfig): HipLlamaWeights {
  // uploadWeights needs only createBuffer(bytes) and upload(buffer, data) of its context
  const adapter = {
    createBuffer: (bytes: number) => ctx.createBuffer(Math.max(16, Math.ceil(bytes / 16) * 16)),
    upload: (buffer: GpuBuffer, data: ArrayBufferView) => ctx.upload(buffer, data),
  };
  return uploadWeights(adapter as unknown as Context, src, cfg) as unknown as HipLlamaWeights;
}

/** Free every buffer of a weight set (the tied output head once). */
export function destroyHipWeights(w: HipLlamaWeights): void {
  const seen = new Set<GpuBuffer>();
  const all = [w.tokenEmbedding, w.outputNorm, w.output, ...w.layers.flatMap((l) => [l.attnNorm, ...l.qkv, l.wo, l.ffnNorm, ...l.gateUp, l.wDown])];
  for (const t of all) if (!seen.has(t.buffer)) (seen.add(t.buffer), t.buffer.destroy());
}
