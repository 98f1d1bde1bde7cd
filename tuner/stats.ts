/**
 * Robust summary of timing samples: median, MAD, and a distribution-free 95% confidence interval
 * for the median from order statistics.
 */
import { median, medianAbsoluteDeviation } from 'simple-statistics';

export interface Summary {
  /** Number of samples. */
  n: number;
  medianNs: number;
  /** Median absolute deviation from the median (unscaled), ns. */
  madNs: number;
  /** 95% confidence interval of the median, ns. */
  ciLowNs: number;
  ciHighNs: number;
  /** (ciHigh - ciLow) / 2 / median; Infinity when the median is 0. */
  relCiHalfWidth: number;
}

/**
 * 1-based ranks [lo, hi] of the order statistics bounding a >= `confidence` CI for the median:
 * the largest j with 2 * P(Bin(n, 1/2) <= j - 1) <= 1 - confidence, hi = n - j + 1
 * (Conover, Practical Nonparametric Statistics, 3rd ed., sec. 3.2; Hollander & Wolfe). For n < 6
 * no such j exists at 95%; the full range [1, n] is returned (coverage 1 - 2^(1-n)).
 */
export function medianCiRanks(n: number, confidence = 0.95): [number, number] {
  const alphaHalf = (1 - confidence) / 2;
  let logPmf = -n * Math.LN2; // log P(X = 0)
  let cdf = 0;
  let j = 1;
  for (let k = 0; k < n; k++) {
    cdf += Math.exp(logPmf); // P(X <= k)
    if (cdf > alphaHalf) break;
    j = k + 1; // rank k+1: coverage 1 - 2 P(X <= k)
    logPmf += Math.log((n - k) / (k + 1));
  }
  return [j, n - j + 1];
}

/**
 * Summarize timing samples (ns).
 * @throws RangeError on an empty sample or a non-finite value.
 */
export function summarize(samplesNs: ArrayLike<number>): Summary {
  const xs = Array.from(samplesNs);
  if (xs.length === 0) throw new RangeError('summarize: no samples');
  if (xs.some((x) => !Number.isFinite(x))) throw new RangeError('summarize: non-finite sample');
  xs.sort((a, b) => a - b);
  const n = xs.length;
  const med = median(xs);
  const [lo, hi] = medianCiRanks(n);
  const ciLowNs = xs[lo - 1];
  const ciHighNs = xs[hi - 1];
  return {
    n,
    medianNs: med,
    madNs: n > 1 ? medianAbsoluteDeviation(xs) : 0,
    ciLowNs,
    ciHighNs,
    relCiHalfWidth: med > 0 ? (ciHighNs - ciLowNs) / 2 / med : Infinity,
  };
}
