/**
 * Token sampling: greedy, or temperature + top-k + top-p (nucleus) with a seeded generator.
 * Filters: top-k, then top-p over the temperature-scaled distribution, then a draw from what is left.
 */
import { mulberry32 } from '../tuner/search/index';

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens (0 = all). */
  topK: number;
  /** Keep the smallest set of tokens whose probability mass reaches p (1 = all). */
  topP: number;
  seed: number;
}

export const defaultSampling: SamplingOptions = { temperature: 0, topK: 40, topP: 0.95, seed: 0 };

/** mulberry32: a small, fast, seedable 32-bit PRNG; returns floats in [0, 1) (the tuner's, shared). */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** Index of the largest logit; ties resolve to the smallest index. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * A sampler bound to options and its own random stream.
 * @throws RangeError for a negative temperature, topK < 0 or topP outside (0, 1].
 */
export class Sampler {
  private readonly random: () => number;
  constructor(readonly options: SamplingOptions) {
    if (!(options.temperature >= 0)) throw new RangeError(`temperature must be >= 0, got ${options.temperature}`);
    if (!(options.topK >= 0) || !Number.isInteger(options.topK)) throw new RangeError(`top-k must be an integer >= 0, got ${options.topK}`);
    if (!(options.topP > 0 && options.topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${options.topP}`);
    this.random = seededRandom(options.seed);
  }

  get greedy(): boolean {
    return this.options.temperature === 0;
  }

  /** Draw a token id from logits (f32, one per vocabulary entry). */
  sample(logits: Float32Array): number {
    if (this.greedy) return argmax(logits);
    const { temperature, topK, topP } = this.options;
    let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
    const maxLogit = logits[ids[0]];
    let probs = ids.map((i) => Math.exp((logits[i] - maxLogit) / temperature));
    let total = probs.reduce((s, p) => s + p, 0);
    if (topP < 1) {
      let mass = 0;
      let keep = 0;
      while (keep < probs.length && mass < topP * total) mass += probs[keep++];
      ids = ids.slice(0, keep);
      probs = probs.slice(0, keep);
      total = mass;
    }
    let r = this.random() * total;
    for (let i = 0; i < ids.length; i++) {
      r -= probs[i];
      if (r <= 0) return ids[i];
    }
    return ids[ids.length - 1];
  }
}
