/**
 * A model ready to run on a HIP / CUDA device (`kpack run|bench --backend hip`): GGUF opened and
 * validated, weights uploaded (runtime/hip/weights.ts), kernels chosen from the packs' HIP entries and the
 * build's HIP default sources (runtime/hip/kernels.ts), the HIP graph with its KV cache. The HIP
 * counterpart of runtime/session.ts openModel.
 */
import type { KvType } from '../../generator/ops';
import type { HipContext } from '../../native/hip/api';
import type { Pack } from '../../tuner/pack/format';
import { GgmlType, GgufFile, GGML_TYPES } from '../gguf';
import { type LlamaConfig, llamaConfigFromGguf } from '../model-config';
import { HipLlamaGraph } from '../model/llama-hip';
import { ggufTensorSource } from '../session';
import { HipKernelSet } from './kernels';
import type { HipDefaultSources } from './sources';
import { type HipLlamaWeights, destroyHipWeights, uploadHipWeights } from './weights';

export interface HipSessionOptions {
  /** Packs whose HIP entries (with sources) may serve calls, in priority order. */
  packs: Pack[];
  /** The build's HIP default sources (HipDefaultSources.open(dist/kernels)). */
  defaults: HipDefaultSources;
  contextLength: number;
  maxBatch: number;
  kvType: KvType;
}

export interface HipModelSession {
  gguf: GgufFile;
  cfg: LlamaConfig;
  weights: HipLlamaWeights;
  kernels: HipKernelSet;
  graph: HipLlamaGraph;
  /** Parameters (elements of all weight tensors). */
  params: number;
  /** The weights' dominant type, e.g. "Q4_0". */
  typeName: string;
  close(): void;
}

/**
 * Open a GGUF model and prepare it to run on HIP context `ctx`.
 * @throws Error naming the file for unreadable/invalid models (as openModel), or the driver error.
 */
export function openHipModel(ctx: HipContext, file: string, opts: HipSessionOptions): HipModelSession {
  const gguf = GgufFile.open(file);
  try {
    const cfg = llamaConfigFromGguf(gguf);
    const contextLength = Math.min(opts.contextLength, cfg.contextLength || opts.contextLength);
    const weights = uploadHipWeights(ctx, ggufTensorSource(gguf), cfg);
    const kernels = new HipKernelSet(ctx, opts.packs, opts.defaults);
    let graph: HipLlamaGraph;
    try {
      graph = new HipLlamaGraph(ctx, cfg, weights, kernels, { maxBatch: opts.maxBatch, contextLength, kvType: opts.kvType });
    } catch (e) {
      destroyHipWeights(weights);
      throw e;
    }
    const counts = new Map<number, number>();
    let params = 0;
    for (const t of gguf.tensors) {
      const n = t.ne.reduce((a, b) => a * b, 1);
      params += n;
      counts.set(t.type, (counts.get(t.type) ?? 0) + n);
    }
    const dominant = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? GgmlType.F32;
    return {
      gguf,
      cfg,
      weights,
      kernels,
      graph,
      params,
      typeName: GGML_TYPES[dominant].name.toUpperCase(),
      close() {
        graph.destroy();
        kernels.destroy();
        destroyHipWeights(weights);
        gguf.close();
      },
    };
  } catch (e) {
    gguf.close();
    throw e;
  }
}
