/**
 * Search strategies over a pruned variant space, all behind one small interface (after KernelTuner's
 * strategies): a strategy decides which candidates to evaluate and with how much effort; the caller's
 * `evaluate` validates and times one candidate and returns its cost (median ns), or null when the
 * candidate is invalid (it is then dropped).
 */
import type { Params } from '../../generator/schema';
import { exhaustive } from './exhaustive';
import { successiveHalving } from './successive-halving';

/**
 * Cost of one candidate at an effort in (0, 1] (1 = full timing effort); null = invalid candidate.
 * Lower is better.
 */
export type Evaluate = (p: Params, effort: number) => Promise<number | null>;

export interface SearchBudget {
  /** Wall-clock budget, ms. A strategy checks it between evaluations; one evaluation may overrun it. */
  ms: number;
  /** Clock in ms (default performance.now); injectable for tests. */
  now?: () => number;
  /** Seed of the strategy's random choices (same seed, same candidates: resumable). */
  seed?: number;
}

export interface SearchResult {
  best: Params | null;
  bestCost: number | null;
  /** Every evaluation in order. */
  evaluations: Array<{ params: Params; effort: number; cost: number | null }>;
  /** True when the budget ran out before the strategy finished. */
  outOfBudget: boolean;
}

export interface SearchStrategy {
  name: string;
  run(candidates: Params[], evaluate: Evaluate, budget: SearchBudget): Promise<SearchResult>;
}

/** Spaces at most this large are searched exhaustively. */
export const EXHAUSTIVE_MAX = 48;

/** Exhaustive for small pruned spaces (<= EXHAUSTIVE_MAX candidates), successive halving otherwise. */
export function pickStrategy(candidateCount: number): SearchStrategy {
  return candidateCount <= EXHAUSTIVE_MAX ? exhaustive : successiveHalving();
}

/** Shared bookkeeping of a strategy run: the budget clock and the list of evaluations. */
export class Tracker {
  readonly evaluations: SearchResult['evaluations'] = [];
  private readonly start: number;
  private readonly now: () => number;
  constructor(private readonly budget: SearchBudget) {
    this.now = budget.now ?? (() => performance.now());
    this.start = this.now();
  }
  get exhausted(): boolean {
    return this.now() - this.start >= this.budget.ms;
  }
  async eval(evaluate: Evaluate, p: Params, effort: number): Promise<number | null> {
    const cost = await evaluate(p, effort);
    this.evaluations.push({ params: p, effort, cost });
    return cost;
  }
  /** Best (lowest) cost among evaluations at the highest effort any valid candidate reached. */
  result(outOfBudget: boolean): SearchResult {
    const valid = this.evaluations.filter((e) => e.cost !== null);
    const top = Math.max(-Infinity, ...valid.map((e) => e.effort));
    let best: (typeof valid)[number] | null = null;
    for (const e of valid) if (e.effort === top && (best === null || e.cost! < best.cost!)) best = e;
    return { best: best?.params ?? null, bestCost: best?.cost ?? null, evaluations: this.evaluations, outOfBudget };
  }
}

/** A seed for label `s` under run seed `seed` (FNV-1a-style mixing of its characters), for mulberry32. */
export function seedFor(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
