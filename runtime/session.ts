/**
 * A model ready to run: GGUF opened and validated, weights on the GPU, kernels chosen from packs,
 * the graph with its KV cache. What `kpack run` and `kpack bench` share.
 */
import type { KvType } from '../generator/ops';
import type { Context } from '../native/vulkan/api';
import type { Pack } from '../tuner/pack/format';
import { GgmlType, GgufFile, GGML_TYPES } from './gguf';
import { KernelSet } from './kernels';
import { type LlamaConfig, llamaConfigFromGguf } from './model-config';
import { LlamaGraph } from './model/llama';
import { type LlamaWeights, type TensorSource, destroyWeights, uploadWeights } from './model/weights';

export interface SessionOptions {
  packs: Pack[];
  contextLength: number;
  maxBatch: number;
  kvType: KvType;
}

export interface ModelSession {
  gguf: GgufFile;
  cfg: LlamaConfig;
  weights: LlamaWeights;
  kernels: KernelSet;
  graph: LlamaGraph;
  /** Parameters (elements of all weight tensors). */
  params: number;
  /** The weights' dominant type, e.g. "F16". */
  typeName: string;
  close(): void;
}

/** Adapt a GGUF file to the weight loader (dtype names as kernel instance keys: f32, f16, q8_0, ...). */
export function ggufTensorSource(g: GgufFile): TensorSource {
  return {
    has: (name) => g.tensorInfo(name) !== undefined,
    info: (name) => {
      const t = g.tensorInfo(name);
      if (!t) throw new Error(`${g.path}: no tensor named ${name}`);
      return { type: GGML_TYPES[t.type].name.toLowerCase(), dims: t.ne };
    },
    data: (name) => g.tensor(name),
  };
}

/** One stderr note per pack whose entries were skipped as stale (tuned by an older kpack). */
function warnStale(kernels: KernelSet): void {
  const byPack = new Map<string, { n: number; families: Set<string> }>();
  for (const s of kernels.selector.stale) {
    const k = byPack.get(s.pack.name) ?? { n: 0, families: new Set<string>() };
    k.n++;
    k.families.add(s.entry.family);
    byPack.set(s.pack.name, k);
  }
  for (const [name, k] of byPack) {
    console.warn(`kpack: ${k.n} entries of pack ${name} (${[...k.families].join(', ')}) were tuned under an older kernel contract and are ignored; re-run kpack autotune`);
  }
}

/**
 * Open a GGUF model and prepare it to run on `ctx`.
 * @throws Error naming the file for unreadable/invalid models (not GGUF, unsupported architecture,
 *   missing or misshapen tensors, unsupported tensor types).
 */
export function openModel(ctx: Context, file: string, opts: SessionOptions): ModelSession {
  const gguf = GgufFile.open(file);
  try {
    const cfg = llamaConfigFromGguf(gguf);
    const contextLength = Math.min(opts.contextLength, cfg.contextLength || opts.contextLength);
    const weights = uploadWeights(ctx, ggufTensorSource(gguf), cfg);
    const kernels = new KernelSet(ctx, opts.packs);
    warnStale(kernels);
    const graph = new LlamaGraph(ctx, cfg, weights, kernels, { maxBatch: opts.maxBatch, contextLength, kvType: opts.kvType });
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
        destroyWeights(weights);
        gguf.close();
      },
    };
  } catch (e) {
    gguf.close();
    throw e;
  }
}
