/**
 * The Llama forward pass on a HIP / CUDA device (native/hip): the same graph as runtime/model/llama.ts
 * (LlamaGraph), with the HIP ports of the kernel families chosen and launched by runtime/hip/kernels.ts:
 *   x = embed(tokens)
 *   per layer: qkv = rmsnorm(x) [Wq|Wk|Wv]^T ; q, cache <- rope_kv(qkv)
 *              x += attention(q, cache) Wo^T ; x += swiglu(rmsnorm(x) [Wg|Wu]^T) Wd^T
 *   logits = rmsnorm(x[last]) Wout^T
 * Decode steps (N <= 8) use matmul.vec with the fused epilogues (NORM, NORM+GLU, RESIDUAL dispatch points);
 * prompt chunks use matmul.tile with separate rms_norm / swiglu / add launches and attention.tile (or any
 * family that can run the shape, see hipRoute). All launches go to the context's one stream in order, so no
 * barriers are needed; positions are launch arguments (no replay, DYNAMIC 0). A forward call uploads the
 * token ids, enqueues every launch and blocks only to download its output; greedy() chains up to CHAIN_MAX
 * steps on the GPU (each step's argmax written where the next step's embed reads its id) per download.
 *
 * Buffers: activations f32 sized for maxBatch rows, K/V caches kvType [kvHeads][contextLength][headDim]
 * per layer, one scratch buffer shared by the ops' partials (they run one after another), and one zeroed
 * "counters" buffer (COUNTER_BYTES, allocated and zeroed once) bound to every attention and argmax call: the
 * merging variants (MERGE 1, DispatchPlan.counterWords) count their blocks on it and leave it zero.
 */
import type { AttentionShape, MatmulEpilogue, MatmulShape, OpShapes } from '../../generator/ops';
import { kvCacheBytes } from '../../generator/ops';
import { type HipBufferBinding, createHipCounters } from '../../generator/hip/launch';
import type { GpuBuffer, HipContext } from '../../native/hip/api';
import type { KernelRequest } from '../kernels';
import type { LlamaConfig } from '../model-config';
import type { HipKernelSet } from '../hip/kernels';
import type { HipLlamaWeights, HipTensor } from '../hip/weights';
import { CHAIN_MAX, type ForwardOutput, type LlamaRunOptions } from './llama';

type Buf = GpuBuffer | HipBufferBinding;

/** A matmul call's epilogue with the norm weight as a tensor. */
interface Epilogue {
  norm?: HipTensor;
  residual?: boolean;
  glu?: boolean;
}

/** The Llama forward pass on one HIP context (module doc); the same calls as LlamaGraph. */
export class HipLlamaGraph {
  private readonly buf: Record<'ids' | 'x' | 'h' | 'qkv' | 'kSrc' | 'vSrc' | 'q' | 'att' | 'o' | 'gu' | 'up' | 'act' | 'logits' | 'chain', GpuBuffer>;
  private readonly kCache: GpuBuffer[] = [];
  private readonly vCache: GpuBuffer[] = [];
  private scratch: GpuBuffer;
  /** Zeroed u32 counters (DispatchPlan.counterWords, e.g. attention.vec / argmax MERGE 1): every kernel leaves them zero. */
  private readonly counters: GpuBuffer;
  /** Whether the matmul kernel of (type, rows, cols, n) fuses epilogues. */
  private readonly fusing = new Map<string, boolean>();
  /** Largest matmul scratch of an n-token step, per n. */
  private readonly matmulScratch = new Map<number, number>();
  /** Forward calls run (every call enqueues its launches afresh). */
  readonly stats = { forwards: 0, launches: 0 };

  constructor(
    private readonly ctx: HipContext,
    readonly cfg: LlamaConfig,
    private readonly weights: HipLlamaWeights,
    readonly kernels: HipKernelSet,
    readonly options: LlamaRunOptions,
  ) {
    const B = options.maxBatch;
    const f32 = (n: number) => ctx.createBuffer(Math.max(16, n * 4));
    const qDim = cfg.heads * cfg.headDim;
    const kvDim = cfg.kvHeads * cfg.headDim;
    this.buf = {
      ids: f32(B),
      x: f32(B * cfg.dim),
      h: f32(B * cfg.dim),
      qkv: f32(B * (qDim + 2 * kvDim)),
      kSrc: f32(B * kvDim),
      vSrc: f32(B * kvDim),
      q: f32(B * qDim),
      att: f32(B * qDim),
      o: f32(B * cfg.dim),
      gu: f32(B * 2 * cfg.ffnDim),
      up: f32(B * cfg.ffnDim),
      act: f32(B * cfg.ffnDim),
      logits: f32(cfg.vocab),
      chain: f32(CHAIN_MAX + 1),
    };
    const kvBytes = kvCacheBytes(options.kvType, cfg.kvHeads * options.contextLength, cfg.headDim);
    for (let l = 0; l < cfg.layers; l++) {
      this.kCache.push(ctx.createBuffer(kvBytes));
      this.vCache.push(ctx.createBuffer(kvBytes));
    }
    this.scratch = ctx.createBuffer(4096);
    this.counters = createHipCounters(ctx);
  }

  /** Bytes of the KV cache on the GPU. */
  get kvCacheBytes(): number {
    return this.kCache.reduce((s, b) => s + b.size, 0) * 2;
  }

  /**
   * Run tokens at positions pos0 .. pos0 + tokens.length - 1, writing their K/V into the cache.
   * @param output 'logits': the last token's logits (f32 [vocab]); 'argmax': the id of the largest logit
   *   (computed on the GPU); 'none': only the cache (no output head).
   * @throws RangeError when the batch exceeds maxBatch, the cache capacity would be exceeded or a token is
   *   outside the vocabulary; Error from the kernels (no kernel for a shape, compile or driver errors).
   */
  forward(tokens: ArrayLike<number>, pos0: number, output: 'logits'): Float32Array;
  forward(tokens: ArrayLike<number>, pos0: number, output: 'argmax'): number;
  forward(tokens: ArrayLike<number>, pos0: number, output: 'none'): null;
  forward(tokens: ArrayLike<number>, pos0: number, output: ForwardOutput): Float32Array | number | null {
    const n = tokens.length;
    if (n < 1 || n > this.options.maxBatch) throw new RangeError(`forward: ${n} tokens; between 1 and ${this.options.maxBatch} expected`);
    if (pos0 + n > this.options.contextLength) throw new RangeError(`forward: positions up to ${pos0 + n} exceed the context length ${this.options.contextLength}`);
    for (let i = 0; i < n; i++) if (!(tokens[i] >= 0 && tokens[i] < this.cfg.vocab)) throw new RangeError(`token id ${tokens[i]} outside the vocabulary [0, ${this.cfg.vocab})`);
    this.ensureScratch(n, pos0);
    this.ctx.upload(this.buf.ids, Uint32Array.from(tokens));
    this.record(n, pos0, output, this.buf.ids, { buffer: this.buf.chain, offset: 0 });
    this.stats.forwards++;
    if (output === 'logits') return new Float32Array(this.ctx.download(this.buf.logits, 0, 4 * this.cfg.vocab));
    if (output === 'argmax') return new Uint32Array(this.ctx.download(this.buf.chain, 0, 4))[0];
    this.ctx.synchronize();
    return null;
  }

  /**
   * Greedy decoding: `count` one-token steps from `token` at pos0; step j's embed reads its id from chain
   * slot j and its argmax writes slot j + 1 (on the GPU), CHAIN_MAX steps per download. Same ids as
   * `count` calls token = forward([token], pos, 'argmax').
   * @returns u32 [count]: the argmax after position pos0 + i.
   * @throws RangeError as forward().
   */
  greedy(token: number, pos0: number, count: number): Uint32Array {
    if (pos0 + count > this.options.contextLength) throw new RangeError(`greedy: positions up to ${pos0 + count} exceed the context length ${this.options.contextLength}`);
    if (!(token >= 0 && token < this.cfg.vocab)) throw new RangeError(`token id ${token} outside the vocabulary [0, ${this.cfg.vocab})`);
    const out = new Uint32Array(count);
    let t = token;
    for (let i = 0; i < count; ) {
      const k = Math.min(CHAIN_MAX, count - i);
      this.ensureScratch(1, pos0 + i + k - 1);
      this.ctx.upload(this.buf.chain, Uint32Array.of(t));
      for (let j = 0; j < k; j++) {
        this.record(1, pos0 + i + j, 'argmax', { buffer: this.buf.chain, offset: 4 * j }, { buffer: this.buf.chain, offset: 4 * (j + 1) });
        this.stats.forwards++;
      }
      out.set(new Uint32Array(this.ctx.download(this.buf.chain, 4, 4 * k)), i);
      t = out[i + k - 1];
      i += k;
    }
    return out;
  }

  /** Enqueue one op call. */
  private run<Op extends keyof OpShapes>(req: KernelRequest<Op>, buffers: Record<string, Buf>): void {
    this.kernels.enqueue(req, buffers);
    this.stats.launches++;
  }

  /** Enqueue the forward pass for n tokens at pos0: ids from `ids`, the argmax (output 'argmax') to `token`. */
  private record(n: number, pos0: number, output: ForwardOutput, ids: Buf, token: HipBufferBinding): void {
    const { cfg, buf } = this;
    const D = cfg.headDim;
    const qDim = cfg.heads * D;
    const kvDim = cfg.kvHeads * D;
    this.run({ op: 'embed', instance: this.weights.tokenEmbedding.type, shape: { tokens: n, dim: cfg.dim }, shapeKey: null, batch: n, depth: 0 }, { table: this.weights.tokenEmbedding.buffer, ids, Y: buf.x });
    for (let l = 0; l < cfg.layers; l++) {
      const w = this.weights.layers[l];
      const fusedQkv = w.qkv.length === 1;
      const qkvOut = fusedQkv ? [buf.qkv] : [buf.qkv, buf.kSrc, buf.vSrc];
      this.project(w.qkv, buf.x, w.attnNorm, qkvOut, n);
      const stride = fusedQkv ? qDim + 2 * kvDim : 0;
      this.run(
        {
          op: 'rope_kv',
          instance: this.options.kvType,
          shape: {
            tokens: n, heads: cfg.heads, kvHeads: cfg.kvHeads, D, pos0, kvStride: this.options.contextLength, base: cfg.ropeBase, mode: cfg.ropeMode,
            qStride: fusedQkv ? stride : qDim, kStride: fusedQkv ? stride : kvDim, vStride: fusedQkv ? stride : kvDim,
            qOffset: 0, kOffset: fusedQkv ? qDim : 0, vOffset: fusedQkv ? qDim + kvDim : 0,
          },
          shapeKey: null,
          batch: n,
          depth: 0,
        },
        { Qsrc: qkvOut[0], Ksrc: qkvOut[fusedQkv ? 0 : 1], Vsrc: qkvOut[fusedQkv ? 0 : 2], Q: buf.q, Kcache: this.kCache[l], Vcache: this.vCache[l] },
      );
      this.run(this.attentionRequest(n, pos0), { Q: buf.q, K: this.kCache[l], V: this.vCache[l], O: buf.att, scratch: this.scratch, counters: this.counters });
      this.matmul(w.wo, buf.att, buf.x, n, { residual: true });
      this.gatedProjection(w.gateUp, w.ffnNorm, n);
      this.matmul(w.wDown, buf.act, buf.x, n, { residual: true });
    }
    if (output === 'none') return;
    const last: Buf = n > 1 ? { buffer: buf.x, offset: (n - 1) * cfg.dim * 4 } : buf.x;
    this.matmul(this.weights.output, last, buf.logits, 1, { norm: this.weights.outputNorm });
    if (output === 'argmax') this.run(this.argmaxRequest(), { X: buf.logits, out: token, scratch: this.scratch, counters: this.counters });
  }

  private argmaxRequest(): KernelRequest<'argmax'> {
    return { op: 'argmax', instance: 'f32', shape: { n: this.cfg.vocab }, shapeKey: null, batch: 1, depth: 0 };
  }

  /** The attention call for n queries at pos0 (fixed positions: kvLength = pos0 + n). */
  attentionRequest(n: number, pos0: number): KernelRequest<'attention'> {
    const { cfg } = this;
    const shape: AttentionShape = {
      D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads, queries: n, kvLength: pos0 + n, kvStride: this.options.contextLength,
      queryPos0: pos0, causal: true, scale: 1 / Math.sqrt(cfg.headDim),
    };
    return { op: 'attention', instance: this.options.kvType, shape, shapeKey: { D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads }, batch: n, depth: pos0 };
  }

  /** The matmul call for weights w (selected by the full matrix shape, whatever the epilogue). */
  matmulRequest(w: HipTensor, n: number, epilogue?: MatmulEpilogue): KernelRequest<'matmul'> {
    const shape: MatmulShape = { M: epilogue?.glu ? w.rows / 2 : w.rows, N: n, K: w.cols };
    if (epilogue) shape.epilogue = epilogue;
    return { op: 'matmul', instance: w.type, shape, shapeKey: { M: w.rows, K: w.cols }, batch: n, depth: 0 };
  }

  /** Grow the scratch buffer to what the calls of an n-token step at pos0 need (the old one is freed after the launches in flight). */
  private ensureScratch(n: number, pos0: number): void {
    let need = this.kernels.scratchBytes(this.attentionRequest(n, pos0));
    need = Math.max(need, this.kernels.scratchBytes(this.argmaxRequest()));
    let mm = this.matmulScratch.get(n);
    if (mm === undefined) {
      mm = this.kernels.scratchBytes(this.matmulRequest(this.weights.output, 1));
      for (const w of this.weights.layers) for (const t of [...w.qkv, w.wo, ...w.gateUp, w.wDown]) mm = Math.max(mm, this.kernels.scratchBytes(this.matmulRequest(t, n)));
      this.matmulScratch.set(n, mm);
    }
    need = Math.max(need, mm);
    if (need > this.scratch.size) {
      this.scratch.destroy();
      this.scratch = this.ctx.createBuffer(Math.max(need, this.scratch.size * 2));
    }
  }

  /** Whether the kernel chosen for weights w at batch n fuses epilogues (matmul.vec). */
  private fuses(w: HipTensor, n: number): boolean {
    const key = `${w.type}|${w.rows}|${w.cols}|${n}`;
    let f = this.fusing.get(key);
    if (f === undefined) this.fusing.set(key, (f = this.kernels.choose(this.matmulRequest(w, n)).spec.hf.family.fusesEpilogue === true));
    return f;
  }

  /** D = epilogue(B W^T): fused when the kernel can, else rms_norm (into h), swiglu (through gu) and add (through o) launches. */
  private matmul(w: HipTensor, B: Buf, D: GpuBuffer, n: number, epi: Epilogue): void {
    if (this.fuses(w, n)) {
      const epilogue: MatmulEpilogue = {};
      if (epi.norm) epilogue.norm = { eps: this.cfg.rmsEps };
      if (epi.glu) epilogue.glu = true;
      if (epi.residual) epilogue.residual = true;
      const buffers: Record<string, Buf> = { A: w.buffer, B, D, scratch: this.scratch };
      if (epi.norm) buffers.G = epi.norm.buffer;
      this.run(this.matmulRequest(w, n, epilogue), buffers);
      return;
    }
    const { buf } = this;
    let src = B;
    if (epi.norm) {
      this.rmsNorm(B, epi.norm, buf.h, n);
      src = buf.h;
    }
    const out = epi.glu ? buf.gu : epi.residual ? buf.o : D;
    this.run(this.matmulRequest(w, n), { A: w.buffer, B: src, D: out, scratch: this.scratch });
    if (epi.glu) {
      const width = w.rows / 2;
      this.swiglu({ G: buf.gu, U: buf.gu, Y: D }, n, width, 2 * width, width);
    }
    if (epi.residual) this.run({ op: 'add', instance: 'f32', shape: { n: n * w.rows }, shapeKey: null, batch: 1, depth: 0 }, { X: D, Y: buf.o });
  }

  /** outs[i] = rmsnorm(src) ws[i]^T; the norm fused into each matmul that can take it, else computed once into h. */
  private project(ws: HipTensor[], src: GpuBuffer, norm: HipTensor, outs: GpuBuffer[], n: number): void {
    let normed: GpuBuffer | null = null;
    ws.forEach((w, i) => {
      if (this.fuses(w, n)) {
        this.matmul(w, src, outs[i], n, { norm });
      } else {
        if (!normed) {
          this.rmsNorm(src, norm, this.buf.h, n);
          normed = this.buf.h;
        }
        this.matmul(w, normed, outs[i], n, {});
      }
    });
  }

  /** act = swiglu(rmsnorm(x) [Wg|Wu]^T): one fused GEMV where possible, else products and a swiglu. */
  private gatedProjection(gateUp: HipTensor[], norm: HipTensor, n: number): void {
    const { buf, cfg } = this;
    if (gateUp.length === 1) {
      this.matmul(gateUp[0], buf.x, buf.act, n, { norm, glu: true });
      return;
    }
    this.project(gateUp, buf.x, norm, [buf.gu, buf.up], n);
    this.swiglu({ G: buf.gu, U: buf.up, Y: buf.act }, n, cfg.ffnDim, cfg.ffnDim, 0);
  }

  private swiglu(buffers: { G: GpuBuffer; U: GpuBuffer; Y: GpuBuffer }, rows: number, width: number, stride: number, uOffset: number): void {
    this.run({ op: 'swiglu', instance: 'f32', shape: { rows, width, gStride: stride, uStride: stride, gOffset: 0, uOffset }, shapeKey: null, batch: 1, depth: 0 }, buffers);
  }

  private rmsNorm(X: Buf, w: HipTensor, Y: GpuBuffer, rows: number): void {
    this.run({ op: 'rms_norm', instance: 'f32', shape: { rows, cols: this.cfg.dim, eps: this.cfg.rmsEps }, shapeKey: null, batch: 1, depth: 0 }, { X, W: w.buffer, Y });
  }

  /** Free the activations, caches, scratch and counters (after the launches in flight). */
  destroy(): void {
    for (const b of [...Object.values(this.buf), ...this.kCache, ...this.vCache, this.scratch, this.counters]) b.destroy();
  }
}
