/** Exhaustive search: every candidate once, at full effort, in the given order, until the budget ends. */
import { type SearchStrategy, Tracker } from './index';

export const exhaustive: SearchStrategy = {
  name: 'exhaustive',
  async run(candidates, evaluate, budget) {
    const t = new Tracker(budget);
    for (const p of candidates) {
      if (t.exhausted) return t.result(true);
      await t.eval(evaluate, p, 1);
    }
    return t.result(false);
  },
};
