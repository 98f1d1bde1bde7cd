/**
 * Successive halving (Jamieson & Talwalkar 2016, "Non-stochastic best arm identification and
 * hyperparameter optimization"): time a random sample of candidates with little effort, keep the
 * best half, re-time the survivors with twice the effort, repeat until one survivor is timed at full
 * effort. Invalid candidates (cost null) are dropped. When the budget ends, the best candidate of
 * the highest effort level reached wins.
 */
import type { Params } from '../../generator/schema';
import { type SearchStrategy, Tracker, mulberry32 } from './index';

export interface HalvingOptions {
  /** Size of the initial random sample (default 64). */
  sample?: number;
  /** Effort of the first round, in (0, 1] (default 1/8); doubled each round, capped at 1. */
  minEffort?: number;
}

/**
 * Successive halving: time a random sample at low effort, keep the better half, double the effort,
 * repeat until one candidate is left or the budget ends (Jamieson & Talwalkar, AISTATS 2016).
 */
export function successiveHalving(opts: HalvingOptions = {}): SearchStrategy {
  const sample = opts.sample ?? 64;
  const minEffort = opts.minEffort ?? 1 / 8;
  return {
    name: 'successive-halving',
    async run(candidates, evaluate, budget) {
      const t = new Tracker(budget);
      const rng = mulberry32(budget.seed ?? 1);
      const pool = candidates.slice();
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      let alive: Params[] = pool.slice(0, sample);
      let effort = minEffort;
      for (;;) {
        const scored: Array<{ p: Params; cost: number }> = [];
        for (const p of alive) {
          if (t.exhausted) return t.result(true);
          const cost = await t.eval(evaluate, p, effort);
          if (cost !== null) scored.push({ p, cost });
        }
        if (scored.length === 0) return t.result(false);
        scored.sort((a, b) => a.cost - b.cost);
        alive = scored.slice(0, Math.ceil(scored.length / 2)).map((s) => s.p);
        if (effort >= 1 && alive.length === 1) return t.result(false);
        // a lone survivor goes straight to full effort
        effort = alive.length === 1 ? 1 : Math.min(1, effort * 2);
      }
    },
  };
}
