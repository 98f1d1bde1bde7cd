/**
 * A float64 CPU reference of the Llama forward pass (llama2.c's run.c, in doubles), used to check
 * the GPU graph token for token. Weights are read as float32 from the GGUF (block-quantized tensors
 * dequantized exactly as ggml does, runtime/gguf/quant) and promoted to float64;
 * the K/V cache is rounded to f16 when the GPU graph's cache is f16, so both see the same inputs.
 */
import type { GgufFile } from '../../runtime/gguf';
import type { LlamaConfig } from '../../runtime/model-config';
import { GgmlType, f16BitsToF32, f32ToF16Bits } from '../../runtime/gguf';
import { dequantize } from '../../runtime/gguf/quant';

interface RefLayer {
  attnNorm: Float64Array;
  wq: Float64Array;
  wk: Float64Array;
  wv: Float64Array;
  wo: Float64Array;
  ffnNorm: Float64Array;
  wGate: Float64Array;
  wUp: Float64Array;
  wDown: Float64Array;
}

const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

/** A tensor's values as float32: F32/F16/BF16 via tensorF32, quantized types dequantized (ggml's to_float). */
export function tensorValues(gguf: GgufFile, name: string): Float32Array {
  const info = gguf.tensorInfo(name);
  if (!info) throw new Error(`tensor ${name} not found`);
  if (info.type === GgmlType.F32 || info.type === GgmlType.F16 || info.type === GgmlType.BF16) return gguf.tensorF32(name);
  return dequantize(info.type, gguf.tensor(name), info.ne.reduce((a, b) => a * b, 1));
}
const roundF16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));

export class LlamaReference {
  private readonly layers: RefLayer[] = [];
  private readonly embedding: Float64Array;
  private readonly outputNorm: Float64Array;
  private readonly output: Float64Array;
  private readonly kCache: Float64Array[] = [];
  private readonly vCache: Float64Array[] = [];

  constructor(
    gguf: GgufFile,
    private readonly cfg: LlamaConfig,
    private readonly kvF16: boolean,
    private readonly capacity = cfg.contextLength,
  ) {
    const t = (name: string) => f64(tensorValues(gguf, name));
    for (let l = 0; l < cfg.layers; l++) {
      const p = `blk.${l}.`;
      this.layers.push({
        attnNorm: t(p + 'attn_norm.weight'),
        wq: t(p + 'attn_q.weight'),
        wk: t(p + 'attn_k.weight'),
        wv: t(p + 'attn_v.weight'),
        wo: t(p + 'attn_output.weight'),
        ffnNorm: t(p + 'ffn_norm.weight'),
        wGate: t(p + 'ffn_gate.weight'),
        wUp: t(p + 'ffn_up.weight'),
        wDown: t(p + 'ffn_down.weight'),
      });
      const kvDim = cfg.kvHeads * cfg.headDim;
      this.kCache.push(new Float64Array(this.capacity * kvDim));
      this.vCache.push(new Float64Array(this.capacity * kvDim));
    }
    this.embedding = t('token_embd.weight');
    this.outputNorm = t('output_norm.weight');
    this.output = gguf.tensorInfo('output.weight') ? t('output.weight') : this.embedding;
  }

  /** Logits (float64 [vocab]) for `token` at position `pos`, updating the cache. */
  step(token: number, pos: number): Float64Array {
    const { cfg } = this;
    const D = cfg.headDim;
    const kvDim = cfg.kvHeads * D;
    const x = this.embedding.slice(token * cfg.dim, (token + 1) * cfg.dim);
    for (let l = 0; l < cfg.layers; l++) {
      const w = this.layers[l];
      const h = rmsNorm(x, w.attnNorm, cfg.rmsEps);
      const q = matvec(w.wq, h, cfg.heads * D);
      const k = matvec(w.wk, h, kvDim);
      const v = matvec(w.wv, h, kvDim);
      rope(q, cfg.heads, D, pos, cfg.ropeBase, cfg.ropeMode);
      rope(k, cfg.kvHeads, D, pos, cfg.ropeBase, cfg.ropeMode);
      const store = this.kvF16 ? roundF16 : (z: number) => z;
      for (let i = 0; i < kvDim; i++) {
        this.kCache[l][pos * kvDim + i] = store(k[i]);
        this.vCache[l][pos * kvDim + i] = store(v[i]);
      }
      const att = new Float64Array(cfg.heads * D);
      const group = cfg.heads / cfg.kvHeads;
      for (let hd = 0; hd < cfg.heads; hd++) {
        const kvh = Math.floor(hd / group);
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[hd * D + d] * this.kCache[l][t * kvDim + kvh * D + d];
          scores[t] = s / Math.sqrt(D);
        }
        const m = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += (scores[t] = Math.exp(scores[t] - m));
        for (let t = 0; t <= pos; t++) {
          const a = scores[t] / sum;
          for (let d = 0; d < D; d++) att[hd * D + d] += a * this.vCache[l][t * kvDim + kvh * D + d];
        }
      }
      const o = matvec(w.wo, att, cfg.dim);
      for (let i = 0; i < cfg.dim; i++) x[i] += o[i];
      const h2 = rmsNorm(x, w.ffnNorm, cfg.rmsEps);
      const g = matvec(w.wGate, h2, cfg.ffnDim);
      const u = matvec(w.wUp, h2, cfg.ffnDim);
      for (let i = 0; i < cfg.ffnDim; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
      const down = matvec(w.wDown, g, cfg.dim);
      for (let i = 0; i < cfg.dim; i++) x[i] += down[i];
    }
    return matvec(this.output, rmsNorm(x, this.outputNorm, cfg.rmsEps), cfg.vocab);
  }

  /** Greedy generation: feed `prompt` (BOS first), then take the argmax n times. */
  greedy(prompt: number[], n: number): number[] {
    let logits: Float64Array = new Float64Array(0);
    prompt.forEach((t, pos) => (logits = this.step(t, pos)));
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
      out.push(best);
      if (i + 1 < n) logits = this.step(best, prompt.length + i);
    }
    return out;
  }
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array<ArrayBufferLike> {
  let ss = 0;
  for (const v of x) ss += v * v;
  const s = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * s * w[i]);
}

/** y[m] = sum_k W[m][k] x[k], W row-major [rows][x.length]. */
function matvec(W: Float64Array, x: Float64Array, rows: number): Float64Array {
  const K = x.length;
  const y = new Float64Array(rows);
  for (let m = 0; m < rows; m++) {
    let s = 0;
    const o = m * K;
    for (let k = 0; k < K; k++) s += W[o + k] * x[k];
    y[m] = s;
  }
  return y;
}

function rope(x: Float64Array, heads: number, D: number, pos: number, base: number, mode: 'adjacent' | 'neox'): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < D / 2; i++) {
      const theta = pos * Math.pow(base, (-2 * i) / D);
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      const a = h * D + (mode === 'adjacent' ? 2 * i : i);
      const b = h * D + (mode === 'adjacent' ? 2 * i + 1 : i + D / 2);
      const x0 = x[a];
      const x1 = x[b];
      x[a] = x0 * c - x1 * s;
      x[b] = x0 * s + x1 * c;
    }
  }
}
