/**
 * The Llama forward pass on the GPU, recorded as one command sequence per call (one submit per
 * decode step or prompt chunk):
 *   x = embed(tokens)
 *   per layer: qkv = rmsnorm(x) [Wq|Wk|Wv]^T ; q, cache <- rope_kv(qkv)
 *              x += attention(q, cache) Wo^T ; x += swiglu(rmsnorm(x) [Wg|Wu]^T) Wd^T
 *   logits = rmsnorm(x[last]) Wout^T
 * Prompts (many tokens) use the pack's GEMM and TILE attention with separate norm / swiglu dispatches, each
 * residual add recorded with the RMSNorm that follows it (add_rms_norm) where one does; decode steps (at most VEC_NMAX tokens) use GEMV kernels that fuse the RMSNorm, the
 * swiglu and the residual add (MatmulShape.epilogue) and, where the QKV kernel takes it, rope_kv
 * (MatmulEpilogue.rope: roped Q out, K/V into the cache), so a layer is five or six dispatches; four where
 * the pack has a tuned `ffn` entry (the whole feed-forward in one dispatch, generator/ops.ts FfnShape), and
 * one fewer where it has a tuned `attention_o` entry (attention, the O projection and its residual add in one
 * dispatch, generator/ops.ts AttentionOShape).
 *
 * The fused feed-forward adds into a zeroed buffer (Y) instead of updating the residual stream in place,
 * so decode steps that use it rotate three stream buffers x, x2, x3: each ffn call reads the stream, adds
 * into the zeroed buffer (the new stream) and zeroes the third (the next call's Y); the step's first Y (x2)
 * is cleared with the step-buffer copy, before the step's first barrier. The fused attention_o adds into the
 * current stream buffer in place (float atomics; x += Wo * o needs no zeroed target), i.e. into the X the next
 * ffn call reads, exactly where the O GEMV's residual epilogue would have added.
 *
 * Decode replay: a decode step's command buffer does not depend on the position. The position and
 * token ids live in a small "step" buffer that the recording first copies from a host-visible
 * staging buffer, and the position-dependent kernels (rope_kv, attention.vec) read it at run time
 * (dynamicPos), with the attention grid planned for the end of a 256-position window. So a step is
 * recorded once per window and replayed: the host writes 8 + 4n bytes and submits.
 */
import { VEC_NMAX } from '../../generator/families/matmul_vec';
import { type LaunchableVariant, createCounters } from '../../generator/launch';
import type { AttentionOShape, AttentionShape, KvType, MatmulEpilogue, MatmulRope, MatmulShape } from '../../generator/ops';
import { REPLAY_WINDOW, attentionOInstanceKey, ffnInstanceKey, kvCacheBytes } from '../../generator/ops';
import { fusesRope, variantSupports } from '../../generator/schema';
import type { Binding, Context, GpuBuffer, Sequence } from '../../native/vulkan/api';
import type { KernelRequest, KernelSet } from '../kernels';
import type { OpTime } from '../profile';
import type { LlamaConfig } from '../model-config';
import type { GpuTensor, LlamaWeights } from './weights';

export interface LlamaRunOptions {
  /** Most tokens one forward call may take (prompt chunk size). */
  maxBatch: number;
  /** KV cache capacity in tokens. */
  contextLength: number;
  kvType: KvType;
  /**
   * Fuse rope_kv into the decode QKV projection where its kernel can (MatmulEpilogue.rope); default true,
   * or false when the environment has KPACK_FUSE_ROPE=0 (to measure the fusion against separate dispatches).
   */
  fuseRope?: boolean;
  /**
   * Run the decode feed-forward as one `ffn` dispatch where the packs have a tuned entry for it (exact or shape
   * level; never the default pack's untuned one); default true, or false when the environment has
   * KPACK_FUSE_FFN=0 (to measure it against the two GEMVs).
   */
  fuseFfn?: boolean;
  /**
   * Run decode attention and the O projection (with its residual add) as one `attention_o` dispatch where the
   * packs have a tuned entry for it at the step's depth (exact level only: the tuner drops the depth buckets where
   * attention + the O GEMV is faster, and a shape-level match would carry a short-context entry there; never the
   * default pack's); default true, or false
   * when the environment has KPACK_FUSE_ATTN_O=0 (to measure it against attention + the O GEMV).
   */
  fuseAttentionO?: boolean;
}

/** Byte offset of the token ids in the step buffer (u32 [0] is the position); 256 meets any minStorageBufferOffsetAlignment. */
const STEP_IDS_OFFSET = 256;
/** Most decode steps one chained submission of greedy() records. */
export const CHAIN_MAX = 32;

/** Activation buffers, sized for maxBatch rows. */
interface Activations {
  /** Device-local step parameters: u32 position at byte 0, u32 token ids from STEP_IDS_OFFSET. */
  step: GpuBuffer;
  /** Host-visible staging of `step`, written before each submit and copied at the start of the recording. */
  stepHost: GpuBuffer;
  x: GpuBuffer;
  /** The other two residual-stream buffers of decode steps with the fused feed-forward (module doc). */
  x2: GpuBuffer;
  x3: GpuBuffer;
  /** Normalized activations (only when a matmul cannot fuse the RMSNorm). */
  h: GpuBuffer;
  /** The Q|K|V products [n][qDim + 2*kvDim] (or Q alone when the projections are separate). */
  qkv: GpuBuffer;
  kSrc: GpuBuffer;
  vSrc: GpuBuffer;
  /** Roped Q [n][heads][D]. */
  q: GpuBuffer;
  att: GpuBuffer;
  /** Product before a separate residual add. */
  o: GpuBuffer;
  /** The gate|up products [n][2*ffnDim] (gate alone when the projections are separate). */
  gu: GpuBuffer;
  up: GpuBuffer;
  /** swiglu output [n][ffnDim]. */
  act: GpuBuffer;
  last: GpuBuffer;
  logits: GpuBuffer;
  token: GpuBuffer;
  /** The argmax kernel's per-workgroup partials. */
  argmaxScratch: GpuBuffer;
}

export type ForwardOutput = 'logits' | 'argmax' | 'none';

/** A matmul call's epilogue with the norm weight as a tensor (MatmulEpilogue carries only eps). */
interface Epilogue {
  norm?: GpuTensor;
  residual?: boolean;
  glu?: boolean;
}

/**
 * The Llama forward pass on one context: activations sized for maxBatch tokens, the KV cache for
 * contextLength positions (kvType, laid out as generator/ops.ts kvCacheBytes); decode steps are recorded once per
 * replay window and replayed. The constructor throws RangeError for a q8_0 / q4_0 cache whose head dim is not a
 * multiple of 32.
 */
export class LlamaGraph {
  private readonly act: Activations;
  private readonly kCache: GpuBuffer[] = [];
  private readonly vCache: GpuBuffer[] = [];
  private scratch: GpuBuffer;
  /** Zeroed u32 counters (DispatchPlan.counterWords, e.g. attention.vec MERGE 1): every kernel leaves them zero. */
  private readonly counters: GpuBuffer;
  /** Largest matmul scratch of a forward call, per batch size n. */
  private readonly matmulScratch = new Map<number, number>();
  private readonly retired: GpuBuffer[] = [];
  /** Recording for prompt chunks and anything not replayed. */
  private readonly seq: Sequence;
  /** The recorded decode step and what it was recorded for. */
  private readonly replaySeq: Sequence;
  private replayKey: string | null = null;
  /** Host-visible copy of the step's result (logits or the argmax token), read without a second submit. */
  private readonly readback: GpuBuffer;
  /** greedy(): the recorded chain of decode steps and what it was recorded for. */
  private readonly chainSeq: Sequence;
  private chainKey: string | null = null;
  /** greedy(): host-visible u32 [CHAIN_MAX] positions then the first token id; u32 [CHAIN_MAX] argmax ids out. */
  private readonly chainIn: GpuBuffer;
  private readonly chainOut: GpuBuffer;
  /** options.fuseRope / fuseFfn resolved. */
  private readonly fuseRope: boolean;
  private readonly fuseFfn: boolean;
  private readonly fuseAttentionO: boolean;
  /**
   * While recording: a residual add not yet recorded (X += R over n elements), left for the next rms_norm of X to
   * take (add_rms_norm: one dispatch for both); recorded as an add before anything else reads X (flushResidual).
   */
  private pendingResidual: { X: GpuBuffer; R: GpuBuffer; n: number } | null = null;
  /** ffnRequest() per (batch, ffn instance key). */
  private readonly ffnCalls = new Map<string, KernelRequest<'ffn'> | null>();
  /** Per-op GPU times of the last forward call, when kernels.profiler is set. */
  lastProfile: OpTime[] = [];
  /** Forward calls served by replaying a recorded step, and calls recorded afresh. */
  readonly stats = { replayed: 0, recorded: 0 };

  constructor(
    private readonly ctx: Context,
    readonly cfg: LlamaConfig,
    private readonly weights: LlamaWeights,
    readonly kernels: KernelSet,
    readonly options: LlamaRunOptions,
  ) {
    this.fuseRope = options.fuseRope ?? process.env.KPACK_FUSE_ROPE !== '0';
    this.fuseFfn = options.fuseFfn ?? process.env.KPACK_FUSE_FFN !== '0';
    this.fuseAttentionO = options.fuseAttentionO ?? process.env.KPACK_FUSE_ATTN_O !== '0';
    const B = options.maxBatch;
    const f32 = (n: number) => ctx.createBuffer(Math.max(4, n * 4));
    const qDim = cfg.heads * cfg.headDim;
    const kvDim = cfg.kvHeads * cfg.headDim;
    this.act = {
      step: ctx.createBuffer(STEP_IDS_OFFSET + 4 * B),
      stepHost: ctx.createBuffer(STEP_IDS_OFFSET + 4 * B, { hostVisible: true }),
      x: f32(B * cfg.dim),
      x2: f32(B * cfg.dim),
      x3: f32(B * cfg.dim),
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
      last: f32(cfg.dim),
      logits: f32(cfg.vocab),
      token: f32(1),
      argmaxScratch: ctx.createBuffer(16),
    };
    const kvBytes = kvCacheBytes(options.kvType, cfg.kvHeads * options.contextLength, cfg.headDim);
    for (let l = 0; l < cfg.layers; l++) {
      this.kCache.push(ctx.createBuffer(kvBytes));
      this.vCache.push(ctx.createBuffer(kvBytes));
    }
    this.scratch = ctx.createBuffer(4096);
    this.counters = createCounters(ctx);
    this.readback = ctx.createBuffer(cfg.vocab * 4, { hostVisible: true });
    this.seq = ctx.createSequence();
    this.replaySeq = ctx.createSequence();
    this.chainSeq = ctx.createSequence();
    this.chainIn = ctx.createBuffer(4 * (CHAIN_MAX + 1), { hostVisible: true });
    this.chainOut = ctx.createBuffer(4 * CHAIN_MAX, { hostVisible: true });
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
    this.act.stepHost.write(0, Uint32Array.of(pos0));
    this.act.stepHost.write(STEP_IDS_OFFSET, Uint32Array.from(tokens));

    const replay = this.replayWindow(n, pos0);
    const windowEnd = replay?.end ?? null;
    const profiling = this.kernels.profiler !== null;
    let seq: Sequence;
    if (replay && !profiling) {
      const { attention } = replay;
      const key = `${n}|${output}|${windowEnd}|${attention.family.id}|${JSON.stringify(attention.params)}|${this.attentionOKey(n, pos0, windowEnd)}`;
      seq = this.replaySeq;
      if (key !== this.replayKey) {
        this.ensureScratch(n, pos0, windowEnd);
        seq.reset();
        this.replayKey = null;
        this.recordStep(seq, n, pos0, output, windowEnd);
        this.replayKey = key;
        this.stats.recorded++;
      } else {
        this.stats.replayed++;
      }
    } else {
      this.ensureScratch(n, pos0, windowEnd);
      seq = this.seq;
      seq.reset();
      this.recordStep(seq, n, pos0, output, windowEnd);
      this.kernels.profiler?.end(seq);
      this.stats.recorded++;
    }
    seq.submit();
    if (profiling) this.lastProfile = this.kernels.profiler!.collect(seq);
    for (const b of this.retired.splice(0)) b.destroy();
    if (output === 'logits') return new Float32Array(this.readback.read(0, this.cfg.vocab * 4));
    if (output === 'argmax') return new Uint32Array(this.readback.read(0, 4))[0];
    return null;
  }

  /**
   * Greedy decoding without a host round trip per token: `count` decode steps from `token` at pos0, each
   * step's argmax (computed on the GPU) copied on the GPU into the next step's token id. One submission
   * runs up to CHAIN_MAX steps of one replay window, recorded once per (window, step count) and replayed:
   * the host writes the positions and the first id, submits, and reads the ids back. Same ids as `count`
   * calls token = forward([token], pos, 'argmax'); those calls serve where steps cannot be chained (a
   * window's last position, profiling, an attention kernel without run-time positions).
   * @returns u32 [count]: the argmax after position pos0 + i (the token of position pos0 + i + 1)
   * @throws RangeError as forward() (positions past the context length, a token outside the vocabulary).
   */
  greedy(token: number, pos0: number, count: number): Uint32Array {
    if (pos0 + count > this.options.contextLength) {
      throw new RangeError(`greedy: positions up to ${pos0 + count} exceed the context length ${this.options.contextLength}`);
    }
    if (!(token >= 0 && token < this.cfg.vocab)) throw new RangeError(`token id ${token} outside the vocabulary [0, ${this.cfg.vocab})`);
    const out = new Uint32Array(count);
    let t = token;
    for (let i = 0; i < count; ) {
      const pos = pos0 + i;
      const replay = this.kernels.profiler === null ? this.replayWindow(1, pos) : null;
      const k = replay ? Math.min(CHAIN_MAX, count - i, replay.end - pos) : 1;
      if (k < 2) {
        t = out[i++] = this.forward([t], pos, 'argmax');
        continue;
      }
      const { attention, end } = replay!;
      const key = `${k}|${end}|${attention.family.id}|${JSON.stringify(attention.params)}|${this.attentionOKey(1, pos, end)}`;
      if (key !== this.chainKey) {
        this.ensureScratch(1, pos, end);
        this.chainSeq.reset();
        this.chainKey = null;
        this.recordChain(this.chainSeq, k, pos, end);
        this.chainKey = key;
        this.stats.recorded++;
      } else {
        this.stats.replayed++;
      }
      const positions = new Uint32Array(k);
      for (let j = 0; j < k; j++) positions[j] = pos + j;
      this.chainIn.write(0, positions);
      this.chainIn.write(4 * CHAIN_MAX, Uint32Array.of(t));
      this.chainSeq.submit();
      for (const b of this.retired.splice(0)) b.destroy();
      out.set(new Uint32Array(this.chainOut.read(0, 4 * k)), i);
      t = out[i + k - 1];
      i += k;
    }
    return out;
  }

  /**
   * Record k chained decode steps (positions from chainIn, planned for the window ending at windowEnd): per
   * step the position into the step buffer, the token id (chainIn's for the first, the previous argmax
   * after), the forward pass with output 'argmax', its id appended to chainOut.
   */
  private recordChain(seq: Sequence, k: number, pos0: number, windowEnd: number): void {
    const { act } = this;
    for (let j = 0; j < k; j++) {
      if (j > 0) seq.barrier(); // the previous step's reads of the step buffer and its argmax write are done
      seq.copy(this.chainIn, act.step, 4, 4 * j, 0);
      if (j === 0) seq.copy(this.chainIn, act.step, 4, 4 * CHAIN_MAX, STEP_IDS_OFFSET);
      else seq.copy(act.token, act.step, 4, 0, STEP_IDS_OFFSET);
      this.clearFfnTarget(seq, 1);
      seq.barrier();
      this.record(seq, 1, pos0 + j, 'argmax', windowEnd);
      seq.copy(act.token, this.chainOut, 4, 0, 4 * j);
    }
  }

  /**
   * For a decode step (n <= VEC_NMAX) whose attention kernel reads positions at run time: the end of
   * its replay window (the KV length the attention grid is planned for) and that kernel; null for steps
   * recorded with fixed positions (prompt chunks, or an attention family without dynamicPos).
   */
  private replayWindow(n: number, pos0: number): { end: number; attention: LaunchableVariant<AttentionShape> } | null {
    if (n > VEC_NMAX) return null;
    const end = Math.min(this.options.contextLength, Math.ceil((pos0 + n) / REPLAY_WINDOW) * REPLAY_WINDOW);
    const req = this.attentionRequest(n, pos0, end);
    const { variant } = this.kernels.choose(req);
    return variant.family.supports(req.shape, variant.instance) ? { end, attention: variant } : null;
  }

  /** Record the step: the step-buffer copy, then the forward pass (no submit). */
  private recordStep(seq: Sequence, n: number, pos0: number, output: ForwardOutput, windowEnd: number | null): void {
    seq.copy(this.act.stepHost, this.act.step, STEP_IDS_OFFSET + 4 * n);
    this.clearFfnTarget(seq, n);
    seq.barrier();
    this.record(seq, n, pos0, output, windowEnd);
  }

  /** Zero the first fused feed-forward's Y (x2) when a step of n tokens uses the fusion (module doc); a transfer command. */
  private clearFfnTarget(seq: Sequence, n: number): void {
    if (this.weights.layers.some((w) => this.ffnRequest(w, n) !== null)) seq.fill(this.act.x2, 0, 0, n * this.cfg.dim * 4);
  }

  /**
   * The fused feed-forward call of a layer at batch n (instance: its gate|up and down types, ffnInstanceKey), or
   * null where the GEMVs run instead: options.fuseFfn off, n above VEC_NMAX, gate and up not one stacked tensor,
   * or no tuned entry (exact or shape level) whose variant supports the shape.
   */
  private ffnRequest(w: LlamaWeights['layers'][number], n: number): KernelRequest<'ffn'> | null {
    if (!this.fuseFfn || n > VEC_NMAX || w.gateUp.length !== 1) return null;
    const instance = ffnInstanceKey(w.gateUp[0].type, w.wDown.type);
    const key = `${n}|${instance}`;
    if (!this.ffnCalls.has(key)) this.ffnCalls.set(key, this.chooseFfn(instance, n));
    return this.ffnCalls.get(key)!;
  }

  private chooseFfn(instance: string, n: number): KernelRequest<'ffn'> | null {
    const { cfg } = this;
    const shape = { N: n, dim: cfg.dim, hidden: cfg.ffnDim, eps: cfg.rmsEps };
    const req: KernelRequest<'ffn'> = { op: 'ffn', instance, shape, shapeKey: { dim: cfg.dim, hidden: cfg.ffnDim }, batch: n, depth: 0 };
    let chosen;
    try {
      chosen = this.kernels.choose(req);
    } catch {
      return null; // no pack has the op for this type
    }
    const { variant, level } = chosen;
    // exact only: a depth bucket the tuner dropped (the fusion lost there) must not borrow a neighbour's entry
    return level === 'exact' && variantSupports(variant.family, shape, variant.params, variant.instance) ? req : null;
  }

  /**
   * Record the whole forward pass for n tokens at pos0 into seq (no submit); the step buffer must hold
   * the position and ids. windowEnd: record position-independently (dynamicPos) for positions up to it.
   */
  private record(seq: Sequence, n: number, pos0: number, output: ForwardOutput, windowEnd: number | null): void {
    const { cfg, act, kernels } = this;
    const D = cfg.headDim;
    const qDim = cfg.heads * D;
    const kvDim = cfg.kvHeads * D;
    const dynamicPos = windowEnd !== null;
    this.pendingResidual = null;
    // the residual stream, and the zeroed buffer the next fused feed-forward adds into (module doc)
    let x = act.x;
    let zeroed = act.x2;
    kernels.record(seq, { op: 'embed', instance: this.weights.tokenEmbedding.type, shape: { tokens: n, dim: cfg.dim }, shapeKey: null, batch: n, depth: 0 }, {
      table: this.weights.tokenEmbedding.buffer,
      ids: { buffer: act.step, offset: STEP_IDS_OFFSET },
      Y: act.x,
    });
    for (let l = 0; l < cfg.layers; l++) {
      const w = this.weights.layers[l];
      // Q, K, V products (RMSNorm fused where the matmul can), then rope and the cache write.
      const fusedQkv = w.qkv.length === 1;
      const rope = fusedQkv ? this.ropeEpilogue(w.qkv[0], n, pos0, dynamicPos) : null;
      if (rope) {
        // rope_kv fused into the projection: roped Q into q, K and V into the caches
        this.flushResidual(seq);
        const buffers = { A: w.qkv[0].buffer, B: x, D: act.q, G: w.attnNorm.buffer, scratch: this.scratch, Kcache: this.kCache[l], Vcache: this.vCache[l], step: act.step };
        kernels.record(seq, this.matmulRequest(w.qkv[0], n, { norm: { eps: cfg.rmsEps }, rope }), buffers);
      }
      const qkvOut = fusedQkv ? [act.qkv] : [act.qkv, act.kSrc, act.vSrc];
      if (!rope) this.project(seq, w.qkv, x, w.attnNorm, qkvOut, n);
      const stride = fusedQkv ? qDim + 2 * kvDim : 0;
      if (!rope) kernels.record(
        seq,
        {
          op: 'rope_kv',
          instance: this.options.kvType,
          shape: {
            tokens: n, heads: cfg.heads, kvHeads: cfg.kvHeads, D, pos0, kvStride: this.options.contextLength, base: cfg.ropeBase, mode: cfg.ropeMode,
            qStride: fusedQkv ? stride : qDim, kStride: fusedQkv ? stride : kvDim, vStride: fusedQkv ? stride : kvDim,
            qOffset: 0, kOffset: fusedQkv ? qDim : 0, vOffset: fusedQkv ? qDim + kvDim : 0, dynamicPos,
          },
          shapeKey: null,
          batch: n,
          depth: 0,
        },
        { Qsrc: qkvOut[0], Ksrc: qkvOut[fusedQkv ? 0 : 1], Vsrc: qkvOut[fusedQkv ? 0 : 2], Q: act.q, Kcache: this.kCache[l], Vcache: this.vCache[l], step: act.step },
      );
      const attnO = this.attentionORequest(w.wo, n, pos0, windowEnd);
      if (attnO) {
        // attention, O projection and residual in one dispatch: x += Wo * attention (in place, float atomics)
        this.flushResidual(seq);
        kernels.record(seq, attnO, { Q: act.q, K: this.kCache[l], V: this.vCache[l], X: x, scratch: this.scratch, step: act.step, counters: this.counters, Wo: w.wo.buffer });
      } else {
        kernels.record(seq, this.attentionRequest(n, pos0, windowEnd), { Q: act.q, K: this.kCache[l], V: this.vCache[l], O: act.att, scratch: this.scratch, step: act.step, counters: this.counters });
        this.matmul(seq, w.wo, act.att, x, n, { residual: true });
      }
      // Feed-forward: one fused dispatch where tuned, else gate|up (norm and swiglu fused where the matmul
      // can) and down with the residual add.
      const ffn = this.ffnRequest(w, n);
      if (ffn) {
        this.flushResidual(seq);
        const third = [act.x, act.x2, act.x3].find((b) => b !== x && b !== zeroed)!;
        kernels.record(seq, ffn, { Wgu: w.gateUp[0].buffer, X: x, Y: zeroed, G: w.ffnNorm.buffer, Wd: w.wDown.buffer, Z: third });
        [x, zeroed] = [zeroed, third];
      } else {
        this.gatedProjection(seq, x, w.gateUp, w.ffnNorm, n);
        this.matmul(seq, w.wDown, act.act, x, n, { residual: true });
      }
    }
    this.flushResidual(seq);
    if (output === 'none') return;
    let last = x;
    if (n > 1) {
      seq.copy(x, act.last, cfg.dim * 4, (n - 1) * cfg.dim * 4, 0);
      seq.barrier();
      last = act.last;
    }
    this.matmul(seq, this.weights.output, last, act.logits, 1, { norm: this.weights.outputNorm });
    if (output === 'argmax') {
      const req = { op: 'argmax' as const, instance: 'f32', shape: { n: cfg.vocab }, shapeKey: null, batch: 1, depth: 0 };
      const need = kernels.scratchBytes(req);
      if (need > act.argmaxScratch.size) {
        this.retired.push(act.argmaxScratch);
        act.argmaxScratch = this.ctx.createBuffer(need);
      }
      kernels.record(seq, req, { X: act.logits, out: act.token, scratch: act.argmaxScratch, counters: this.counters });
      seq.copy(act.token, this.readback, 4);
    } else {
      seq.copy(act.logits, this.readback, cfg.vocab * 4);
    }
  }

  /**
   * The attention call for n queries at pos0; with windowEnd, position-independent (dynamicPos) and
   * planned for a KV length of windowEnd.
   */
  private attentionRequest(n: number, pos0: number, windowEnd: number | null): KernelRequest<'attention'> {
    const { cfg } = this;
    const kvLength = windowEnd ?? pos0 + n;
    const shape: AttentionShape = {
      D: cfg.headDim,
      heads: cfg.heads,
      kvHeads: cfg.kvHeads,
      queries: n,
      kvLength,
      kvStride: this.options.contextLength,
      queryPos0: kvLength - n,
      causal: true,
      scale: 1 / Math.sqrt(cfg.headDim),
      dynamicPos: windowEnd !== null,
    };
    return { op: 'attention', instance: this.options.kvType, shape, shapeKey: { D: cfg.headDim, heads: cfg.heads, kvHeads: cfg.kvHeads }, batch: n, depth: pos0 };
  }

  /**
   * The fused attention + O projection call for a layer's Wo at n queries (shape: attentionRequest's plus dim;
   * instance attentionOInstanceKey(Wo type, kvType)), or null where attention and the O GEMV run instead:
   * options.fuseAttentionO off, n above VEC_NMAX, no family instance for the types, or no tuned entry whose depth
   * range covers pos0 (at the exact level, or the shape level: the nearest batch) whose variant supports the shape.
   */
  private attentionORequest(wo: GpuTensor, n: number, pos0: number, windowEnd: number | null): KernelRequest<'attention_o'> | null {
    const { cfg } = this;
    if (!this.fuseAttentionO || n > VEC_NMAX || wo.rows !== cfg.dim || wo.cols !== cfg.heads * cfg.headDim) return null;
    const a = this.attentionRequest(n, pos0, windowEnd);
    const shape: AttentionOShape = { ...a.shape, dim: cfg.dim };
    const req: KernelRequest<'attention_o'> = {
      op: 'attention_o', instance: attentionOInstanceKey(wo.type, this.options.kvType), shape,
      shapeKey: { ...a.shapeKey!, dim: cfg.dim }, batch: n, depth: pos0,
    };
    let chosen;
    try {
      chosen = this.kernels.choose(req);
    } catch {
      return null; // no pack has the op for these types
    }
    const { variant, level, depthRange: [lo, hi] } = chosen;
    // 'shape' serves another batch of the same layout, never another depth bucket: a variant tuned where the KV is
    // short splits too little at depth (2026-12-08: the 0-1023 winner, KV_CHUNK 1024, ran 37 us a layer at depth 4096
    // where the tuner had dropped the fused entry for attention.vec + the O GEMV, 24 + 6.7 us)
    const coversDepth = pos0 >= lo && (hi === null || pos0 <= hi);
    return (level === 'exact' || (level === 'shape' && coversDepth)) && variantSupports(variant.family, shape, variant.params, variant.instance) ? req : null;
  }

  /** What the decode step's attention_o calls are (their variants, or none), for the replay keys. */
  private attentionOKey(n: number, pos0: number, windowEnd: number | null): string {
    const keys = new Set<string>();
    for (const w of this.weights.layers) {
      const req = this.attentionORequest(w.wo, n, pos0, windowEnd);
      keys.add(req ? `${req.instance}:${JSON.stringify(this.kernels.choose(req).variant.params)}` : '-');
    }
    return [...keys].join(',');
  }

  /**
   * Grow the scratch buffer (shared by attention's split-KV partials and matmul's split-K partials / f16
   * activations: the ops run one after another) before recording; old buffers die after the submit.
   */
  private ensureScratch(n: number, pos0: number, windowEnd: number | null): void {
    let mm = this.matmulScratch.get(n);
    if (mm === undefined) {
      mm = this.kernels.scratchBytes(this.matmulRequest(this.weights.output, 1));
      for (const w of this.weights.layers) {
        for (const t of [...w.qkv, w.wo, ...w.gateUp, w.wDown]) mm = Math.max(mm, this.kernels.scratchBytes(this.matmulRequest(t, n)));
      }
      this.matmulScratch.set(n, mm);
    }
    let need = Math.max(mm, this.kernels.scratchBytes(this.attentionRequest(n, pos0, windowEnd)));
    for (const w of this.weights.layers) {
      const req = this.attentionORequest(w.wo, n, pos0, windowEnd);
      if (req) need = Math.max(need, this.kernels.scratchBytes(req));
    }
    if (need > this.scratch.size) {
      this.retired.push(this.scratch);
      this.scratch = this.ctx.createBuffer(Math.max(need, this.scratch.size * 2));
      // recordings that bind the old buffer are recorded again when next used
      this.replayKey = null;
      this.chainKey = null;
    }
  }

  /** The matmul request for weights w (selected by the full matrix shape, whatever the epilogue). */
  private matmulRequest(w: GpuTensor, n: number, epilogue?: MatmulEpilogue): KernelRequest<'matmul'> {
    const shape: MatmulShape = { M: epilogue?.glu ? w.rows / 2 : w.rows, N: n, K: w.cols };
    if (epilogue) shape.epilogue = epilogue;
    return { op: 'matmul', instance: w.type, shape, shapeKey: { M: w.rows, K: w.cols }, batch: n, depth: 0 };
  }

  /**
   * The rope epilogue for the fused QKV weights w at batch n when the kernel chosen for them takes it (its
   * family fuses rope from its pack entry's contract on, KernelFamily.ropeSince, and the variant supports the
   * shape), adjacent-pair rope, a decode batch, and options.fuseRope is not false; else null (rope_kv runs).
   */
  private ropeEpilogue(w: GpuTensor, n: number, pos0: number, dynamicPos: boolean): MatmulRope | null {
    const { cfg } = this;
    if (!this.fuseRope || n > VEC_NMAX || cfg.ropeMode !== 'adjacent') return null;
    const rope: MatmulRope = {
      qRows: cfg.heads * cfg.headDim, kvRows: cfg.kvHeads * cfg.headDim, D: cfg.headDim, base: cfg.ropeBase,
      pos0, kvStride: this.options.contextLength, kvType: this.options.kvType, dynamicPos,
    };
    const req = this.matmulRequest(w, n, { norm: { eps: cfg.rmsEps }, rope });
    const { variant, abi } = this.kernels.choose(req);
    const ok = variant.family.fusesEpilogue === true && fusesRope(variant.family, variant.instance.key, abi, rope.kvType) && variantSupports(variant.family, req.shape, variant.params, variant.instance);
    return ok ? rope : null;
  }

  /** Whether the kernel chosen for weights w at batch n fuses epilogues. */
  private fuses(w: GpuTensor, n: number): boolean {
    return this.kernels.choose(this.matmulRequest(w, n)).variant.family.fusesEpilogue === true;
  }

  /**
   * D = epilogue(B W^T): fused into the matmul when its kernel can, else separate rms_norm (into h),
   * swiglu (through gu) and add (through o) dispatches around a plain matmul.
   */
  private matmul(seq: Sequence, w: GpuTensor, B: GpuBuffer, D: GpuBuffer, n: number, epi: Epilogue): void {
    if (this.fuses(w, n)) {
      this.flushResidual(seq);
      const epilogue: MatmulEpilogue = {};
      if (epi.norm) epilogue.norm = { eps: this.cfg.rmsEps };
      if (epi.glu) epilogue.glu = true;
      if (epi.residual) epilogue.residual = true;
      const buffers: Record<string, GpuBuffer> = { A: w.buffer, B, D, scratch: this.scratch };
      if (epi.norm) buffers.G = epi.norm.buffer;
      this.kernels.record(seq, this.matmulRequest(w, n, epilogue), buffers);
      return;
    }
    const { act } = this;
    let src = B;
    if (epi.norm) {
      this.rmsNorm(seq, B, epi.norm, act.h, n);
      src = act.h;
    } else {
      this.flushResidual(seq);
    }
    const out = epi.glu ? act.gu : epi.residual ? act.o : D;
    this.kernels.record(seq, this.matmulRequest(w, n), { A: w.buffer, B: src, D: out, scratch: this.scratch });
    if (epi.glu) {
      const width = w.rows / 2;
      this.swiglu(seq, { G: act.gu, U: act.gu, Y: D }, n, width, 2 * width, width);
    }
    // the add waits for the next rms_norm of D (add_rms_norm), or for the next reader of D
    if (epi.residual) this.pendingResidual = { X: D, R: act.o, n: n * w.rows };
  }

  /** Record the pending residual add, if any (pendingResidual). */
  private flushResidual(seq: Sequence): void {
    const p = this.pendingResidual;
    if (!p) return;
    this.pendingResidual = null;
    this.add(seq, p.X, p.R, p.n);
  }

  /**
   * outs[i] = rmsnorm(src) ws[i]^T for each projection; the norm is fused into each matmul that can
   * take it and computed once into h for those that cannot.
   */
  private project(seq: Sequence, ws: GpuTensor[], src: GpuBuffer, norm: GpuTensor, outs: GpuBuffer[], n: number): void {
    let normed: GpuBuffer | null = null;
    ws.forEach((w, i) => {
      if (this.fuses(w, n)) {
        this.matmul(seq, w, src, outs[i], n, { norm });
      } else {
        if (!normed) {
          this.rmsNorm(seq, src, norm, this.act.h, n);
          normed = this.act.h;
        }
        this.matmul(seq, w, normed, outs[i], n, {});
      }
    });
  }

  /** act = swiglu(rmsnorm(x) [Wg|Wu]^T): one fused GEMV where possible, else products and a swiglu. */
  private gatedProjection(seq: Sequence, x: GpuBuffer, gateUp: GpuTensor[], norm: GpuTensor, n: number): void {
    const { act, cfg } = this;
    if (gateUp.length === 1) {
      this.matmul(seq, gateUp[0], x, act.act, n, { norm, glu: true });
      return;
    }
    this.project(seq, gateUp, x, norm, [act.gu, act.up], n);
    this.swiglu(seq, { G: act.gu, U: act.up, Y: act.act }, n, cfg.ffnDim, cfg.ffnDim, 0);
  }

  private swiglu(seq: Sequence, buffers: { G: GpuBuffer; U: GpuBuffer; Y: GpuBuffer }, rows: number, width: number, stride: number, uOffset: number): void {
    const shape = { rows, width, gStride: stride, uStride: stride, gOffset: 0, uOffset };
    this.kernels.record(seq, { op: 'swiglu', instance: 'f32', shape, shapeKey: null, batch: 1, depth: 0 }, buffers);
  }

  /** Y = rms_norm(X) * w; with the pending residual add into X (pendingResidual) in the same dispatch (add_rms_norm). */
  private rmsNorm(seq: Sequence, X: GpuBuffer, w: GpuTensor, Y: GpuBuffer, rows: number): void {
    const shape = { rows, cols: this.cfg.dim, eps: this.cfg.rmsEps };
    const p = this.pendingResidual;
    if (p && p.X === X && p.n === rows * this.cfg.dim) {
      this.pendingResidual = null;
      this.kernels.record(seq, { op: 'add_rms_norm', instance: 'f32', shape, shapeKey: null, batch: 1, depth: 0 }, { X, R: p.R, W: w.buffer, Y });
      return;
    }
    this.flushResidual(seq);
    this.kernels.record(seq, { op: 'rms_norm', instance: 'f32', shape, shapeKey: null, batch: 1, depth: 0 }, { X, W: w.buffer, Y });
  }

  private add(seq: Sequence, X: GpuBuffer, Y: GpuBuffer | Binding, n: number): void {
    this.kernels.record(seq, { op: 'add', instance: 'f32', shape: { n }, shapeKey: null, batch: 1, depth: 0 }, { X, Y });
  }

  destroy(): void {
    for (const b of [...Object.values(this.act), ...this.kCache, ...this.vCache, this.scratch, this.counters, this.readback, this.chainIn, this.chainOut, ...this.retired]) b.destroy();
    this.seq.destroy();
    this.replaySeq.destroy();
    this.chainSeq.destroy();
  }
}
