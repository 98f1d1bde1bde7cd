/**
 * The Llama forward pass on the GPU, recorded as one command sequence per call (one submit per
 * decode step or prompt chunk):
 *   x = embed(tokens)
 *   per layer: h = rmsnorm(x) ; q,k,v = h Wq^T, h Wk^T, h Wv^T ; rope(q), rope(k) ; cache <- k, v
 *              x += attention(q, cache) Wo^T ; h = rmsnorm(x) ; x += (silu(h Wg^T) * h Wu^T) Wd^T
 *   logits = rmsnorm(x[last]) Wout^T
 * Batched prompt processing uses GEMM + TILE attention, one-token decode GEMV + VEC attention,
 * as the pack's kernel selection decides per shape.
 */
import type { KvType } from '../../generator/ops';
import type { Context, GpuBuffer, Sequence } from '../../native/vulkan/api';
import type { KernelSet } from '../kernels';
import type { OpTime } from '../profile';
import type { LlamaConfig } from '../model-config';
import type { GpuTensor, LlamaWeights } from './weights';

export interface LlamaRunOptions {
  /** Most tokens one forward call may take (prompt chunk size). */
  maxBatch: number;
  /** KV cache capacity in tokens. */
  contextLength: number;
  kvType: KvType;
}

/** Activation buffers, sized for maxBatch rows. */
interface Activations {
  ids: GpuBuffer;
  x: GpuBuffer;
  h: GpuBuffer;
  q: GpuBuffer;
  k: GpuBuffer;
  v: GpuBuffer;
  att: GpuBuffer;
  o: GpuBuffer;
  gate: GpuBuffer;
  up: GpuBuffer;
  last: GpuBuffer;
  lastNorm: GpuBuffer;
  logits: GpuBuffer;
  token: GpuBuffer;
}

export type ForwardOutput = 'logits' | 'argmax' | 'none';

/**
 * The Llama forward pass on one context: activations sized for maxBatch tokens, the KV cache for
 * contextLength positions (kvType), one Sequence recorded and submitted per forward call.
 */
export class LlamaGraph {
  private readonly act: Activations;
  private readonly kCache: GpuBuffer[] = [];
  private readonly vCache: GpuBuffer[] = [];
  private scratch: GpuBuffer;
  /** Largest matmul scratch of a forward call, per batch size n. */
  private readonly matmulScratch = new Map<number, number>();
  private readonly retired: GpuBuffer[] = [];
  private readonly seq: Sequence;
  /** Host-visible copy of the step's result (logits or the argmax token), read without a second submit. */
  private readonly readback: GpuBuffer;
  /** Per-op GPU times of the last forward call, when kernels.profiler is set. */
  lastProfile: OpTime[] = [];

  constructor(
    private readonly ctx: Context,
    readonly cfg: LlamaConfig,
    private readonly weights: LlamaWeights,
    readonly kernels: KernelSet,
    readonly options: LlamaRunOptions,
  ) {
    const B = options.maxBatch;
    const f32 = (n: number) => ctx.createBuffer(Math.max(4, n * 4));
    const qDim = cfg.heads * cfg.headDim;
    const kvDim = cfg.kvHeads * cfg.headDim;
    this.act = {
      ids: f32(B),
      x: f32(B * cfg.dim),
      h: f32(B * cfg.dim),
      q: f32(B * qDim),
      k: f32(B * kvDim),
      v: f32(B * kvDim),
      att: f32(B * qDim),
      o: f32(B * cfg.dim),
      gate: f32(B * cfg.ffnDim),
      up: f32(B * cfg.ffnDim),
      last: f32(cfg.dim),
      lastNorm: f32(cfg.dim),
      logits: f32(cfg.vocab),
      token: f32(1),
    };
    const kvBytes = cfg.kvHeads * options.contextLength * cfg.headDim * (options.kvType === 'f16' ? 2 : 4);
    for (let l = 0; l < cfg.layers; l++) {
      this.kCache.push(ctx.createBuffer(kvBytes));
      this.vCache.push(ctx.createBuffer(kvBytes));
    }
    this.scratch = ctx.createBuffer(4096);
    this.readback = ctx.createBuffer(cfg.vocab * 4, { hostVisible: true });
    this.seq = ctx.createSequence();
  }

  /** Bytes of the KV cache on the GPU. */
  get kvCacheBytes(): number {
    return this.kCache.reduce((s, b) => s + b.size, 0) * 2;
  }

  /**
   * Run tokens at positions pos0 .. pos0 + tokens.length - 1, writing their K/V into the cache.
   * @param output 'logits' downloads the last token's logits (f32 [vocab]); 'argmax' returns the
   *   id of the largest logit computed on the GPU; 'none' computes only the cache (no output head).
   * @throws RangeError when the batch exceeds maxBatch or the cache capacity would be exceeded.
   */
  forward(tokens: ArrayLike<number>, pos0: number, output: 'logits'): Float32Array;
  forward(tokens: ArrayLike<number>, pos0: number, output: 'argmax'): number;
  forward(tokens: ArrayLike<number>, pos0: number, output: 'none'): null;
  forward(tokens: ArrayLike<number>, pos0: number, output: ForwardOutput): Float32Array | number | null {
    const n = tokens.length;
    if (n < 1 || n > this.options.maxBatch) throw new RangeError(`forward: ${n} tokens; between 1 and ${this.options.maxBatch} expected`);
    if (pos0 + n > this.options.contextLength) {
      throw new RangeError(`forward: positions up to ${pos0 + n} exceed the context length ${this.options.contextLength}`);
    }
    for (let i = 0; i < n; i++) {
      if (!(tokens[i] >= 0 && tokens[i] < this.cfg.vocab)) throw new RangeError(`token id ${tokens[i]} outside the vocabulary [0, ${this.cfg.vocab})`);
    }
    this.ensureScratch(n, pos0);
    const seq = this.seq;
    seq.reset();
    seq.update(this.act.ids, Uint32Array.from(tokens));
    seq.barrier();
    this.record(seq, n, pos0, output);
    this.kernels.profiler?.end(seq);
    seq.submit();
    if (this.kernels.profiler) this.lastProfile = this.kernels.profiler.collect(seq);
    for (const b of this.retired.splice(0)) b.destroy();
    if (output === 'logits') return new Float32Array(this.readback.read(0, this.cfg.vocab * 4));
    if (output === 'argmax') return new Uint32Array(this.readback.read(0, 4))[0];
    return null;
  }

  /** Record the whole forward pass for n tokens at pos0 into seq (no submit); the token ids must already be in the ids buffer. */
  record(seq: Sequence, n: number, pos0: number, output: ForwardOutput): void {
    const { cfg, act, kernels } = this;
    const kvType = this.options.kvType;
    const D = cfg.headDim;
    kernels.record(seq, { op: 'embed', instance: this.weights.tokenEmbedding.type, shape: { tokens: n, dim: cfg.dim }, shapeKey: null, batch: n, depth: 0 }, {
      table: this.weights.tokenEmbedding.buffer,
      ids: act.ids,
      Y: act.x,
    });
    for (let l = 0; l < cfg.layers; l++) {
      const w = this.weights.layers[l];
      this.rmsNorm(seq, act.x, w.attnNorm, act.h, n);
      this.matmul(seq, w.wq, act.h, act.q, n);
      this.matmul(seq, w.wk, act.h, act.k, n);
      this.matmul(seq, w.wv, act.h, act.v, n);
      this.rope(seq, act.q, n, cfg.heads, pos0);
      this.rope(seq, act.k, n, cfg.kvHeads, pos0);
      for (const [src, cache] of [
        [act.k, this.kCache[l]],
        [act.v, this.vCache[l]],
      ] as const) {
        kernels.record(
          seq,
          { op: 'kv_write', instance: kvType, shape: { tokens: n, kvHeads: cfg.kvHeads, D, pos0, kvStride: this.options.contextLength }, shapeKey: null, batch: n, depth: 0 },
          { src, cache },
        );
      }
      kernels.record(seq, this.attentionRequest(n, pos0), { Q: act.q, K: this.kCache[l], V: this.vCache[l], O: act.att, scratch: this.scratch });
      this.matmul(seq, w.wo, act.att, act.o, n);
      this.add(seq, act.x, act.o, n * cfg.dim);
      this.rmsNorm(seq, act.x, w.ffnNorm, act.h, n);
      this.matmul(seq, w.wGate, act.h, act.gate, n);
      this.matmul(seq, w.wUp, act.h, act.up, n);
      kernels.record(seq, { op: 'swiglu', instance: 'f32', shape: { n: n * cfg.ffnDim }, shapeKey: null, batch: 1, depth: 0 }, {
        G: act.gate,
        U: act.up,
        Y: act.gate,
      });
      this.matmul(seq, w.wDown, act.gate, act.o, n);
      this.add(seq, act.x, act.o, n * cfg.dim);
    }
    if (output === 'none') return;
    seq.copy(act.x, act.last, cfg.dim * 4, (n - 1) * cfg.dim * 4, 0);
    seq.barrier();
    this.rmsNorm(seq, act.last, this.weights.outputNorm, act.lastNorm, 1);
    this.matmul(seq, this.weights.output, act.lastNorm, act.logits, 1);
    if (output === 'argmax') {
      kernels.record(seq, { op: 'argmax', instance: 'f32', shape: { n: cfg.vocab }, shapeKey: null, batch: 1, depth: 0 }, { X: act.logits, out: act.token });
      seq.copy(act.token, this.readback, 4);
    } else {
      seq.copy(act.logits, this.readback, cfg.vocab * 4);
    }
  }

  private attentionRequest(n: number, pos0: number) {
    const { cfg } = this;
    const shape = {
      D: cfg.headDim,
      heads: cfg.heads,
      kvHeads: cfg.kvHeads,
      queries: n,
      kvLength: pos0 + n,
      kvStride: this.options.contextLength,
      queryPos0: pos0,
      causal: true,
      scale: 1 / Math.sqrt(cfg.headDim),
    };
    return {
      op: 'attention' as const,
      instance: this.options.kvType,
      shape,
      shapeKey: { D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads },
      batch: n,
      depth: pos0,
    };
  }

  /**
   * Grow the scratch buffer (shared by attention's split-KV partials and matmul's split-K partials / f16
   * activations: the ops run one after another) before recording; old buffers die after the submit.
   */
  private ensureScratch(n: number, pos0: number): void {
    let mm = this.matmulScratch.get(n);
    if (mm === undefined) {
      mm = this.kernels.scratchBytes(this.matmulRequest(this.weights.output, 1));
      for (const w of this.weights.layers) {
        for (const t of [w.wq, w.wk, w.wv, w.wo, w.wGate, w.wUp, w.wDown]) mm = Math.max(mm, this.kernels.scratchBytes(this.matmulRequest(t, n)));
      }
      this.matmulScratch.set(n, mm);
    }
    const need = Math.max(mm, this.kernels.scratchBytes(this.attentionRequest(n, pos0)));
    if (need > this.scratch.size) {
      this.retired.push(this.scratch);
      this.scratch = this.ctx.createBuffer(Math.max(need, this.scratch.size * 2));
    }
  }

  private matmulRequest(w: GpuTensor, n: number) {
    return { op: 'matmul' as const, instance: w.type, shape: { M: w.rows, N: n, K: w.cols }, shapeKey: { M: w.rows, K: w.cols }, batch: n, depth: 0 };
  }

  private matmul(seq: Sequence, w: GpuTensor, B: GpuBuffer, D: GpuBuffer, n: number): void {
    this.kernels.record(seq, this.matmulRequest(w, n), { A: w.buffer, B, D, scratch: this.scratch });
  }

  private rmsNorm(seq: Sequence, X: GpuBuffer, w: GpuTensor, Y: GpuBuffer, rows: number): void {
    const shape = { rows, cols: this.cfg.dim, eps: this.cfg.rmsEps };
    this.kernels.record(seq, { op: 'rms_norm', instance: 'f32', shape, shapeKey: null, batch: 1, depth: 0 }, { X, W: w.buffer, Y });
  }

  private rope(seq: Sequence, X: GpuBuffer, tokens: number, heads: number, pos0: number): void {
    const shape = { tokens, heads, D: this.cfg.headDim, pos0, base: this.cfg.ropeBase, mode: this.cfg.ropeMode };
    this.kernels.record(seq, { op: 'rope', instance: 'f32', shape, shapeKey: null, batch: 1, depth: 0 }, { X });
  }

  private add(seq: Sequence, X: GpuBuffer, Y: GpuBuffer, n: number): void {
    this.kernels.record(seq, { op: 'add', instance: 'f32', shape: { n }, shapeKey: null, batch: 1, depth: 0 }, { X, Y });
  }

  destroy(): void {
    for (const b of [...Object.values(this.act), ...this.kCache, ...this.vCache, this.scratch, this.readback, ...this.retired]) b.destroy();
    this.seq.destroy();
  }
}
