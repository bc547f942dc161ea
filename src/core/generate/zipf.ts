import { TallyError } from '../errors.js';
import type { Prng } from './prng.js';

/**
 * Zipf(N, s) over ranks 1..N (P(k) ∝ k^-s) by rejection-inversion (Hörmann & Derflinger,
 * "Rejection-inversion to generate variates from monotone discrete distributions", 1996), as
 * in Apache Commons RNG's RejectionInversionZipfSampler: O(1) memory and setup for any N, a
 * few log/exp per sample, and an acceptance rate close to 1. Rank 1 is the most popular.
 */
export class ZipfSampler {
  readonly n: number;
  readonly exponent: number;
  private readonly hIntegralX1: number;
  private readonly hIntegralN: number;
  private readonly s: number;

  constructor(n: number, exponent: number) {
    if (!(n >= 1) || !Number.isSafeInteger(n)) {
      throw new TallyError('TALLY_BAD_PARAMETER', `ads: must be a positive integer, got ${n}`, {
        field: 'ads',
      });
    }
    if (!(exponent > 0) || !Number.isFinite(exponent)) {
      throw new TallyError('TALLY_BAD_PARAMETER', `zipf: exponent must be > 0, got ${exponent}`, {
        field: 'zipf',
      });
    }
    this.n = n;
    this.exponent = exponent;
    this.hIntegralX1 = this.hIntegral(1.5) - 1;
    this.hIntegralN = this.hIntegral(n + 0.5);
    this.s = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** a rank in [1, n] */
  sample(rng: Prng): number {
    for (;;) {
      const u = this.hIntegralN + rng.next() * (this.hIntegralX1 - this.hIntegralN);
      const x = this.hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > this.n) k = this.n;
      if (k - x <= this.s || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
  }

  /** H(x) = ∫ h: ((x^(1-s)) - 1) / (1 - s), written to stay exact near s = 1 */
  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return helper2((1 - this.exponent) * logX) * logX;
  }

  private h(x: number): number {
    return Math.exp(-this.exponent * Math.log(x));
  }

  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.exponent);
    if (t < -1) t = -1; // numerical guard: t ≥ -1 mathematically
    return Math.exp(helper1(t) * x);
  }
}

/** log1p(x)/x, with its series near 0 */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** expm1(x)/x, with its series near 0 */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}
