/**
 * Drift guard: the default variant (the anchor) is re-timed every K candidate measurements. If its
 * median moved by more than X% from the reference anchor time (clock changes, heat, a neighbour's
 * work), every candidate measured since the last clean anchor is discarded and re-timed, and the
 * anchor is checked again. After `maxRetries` drifting re-checks the reference is re-based to the new
 * anchor time (the device's state changed for good) and the count is reported in `events`.
 */

export interface AnchorOptions {
  /** K: re-time the anchor after this many candidate measurements (default 8). */
  every?: number;
  /** X: allowed |anchor - reference| / reference, percent (default 5). */
  maxDriftPct?: number;
  /** Drifting re-checks before re-basing the reference (default 2). */
  maxRetries?: number;
  /** Called before re-timing after a drift, e.g. a short sleep to let clocks settle. */
  cooldown?: () => Promise<void>;
}

export interface AnchorEvents {
  anchorTimings: number;
  drifts: number;
  retimed: number;
  rebased: number;
}

/**
 * Drift guard: re-times a fixed anchor variant every `every` candidates; when its median moves more
 * than maxDriftPct from the reference, the candidates measured since the last clean anchor are
 * discarded and re-timed (see the module doc). T is the measurement type (e.g. a timing Summary).
 */
export class Anchor<T> {
  /** Latest accepted result per key. */
  readonly results = new Map<string, T>();
  readonly events: AnchorEvents = { anchorTimings: 0, drifts: 0, retimed: 0, rebased: 0 };
  /** Reference anchor time, ns (the first anchor timing, or the latest re-base). */
  referenceNs: number | null = null;
  private pending: Array<{ key: string; time: () => Promise<T> }> = [];
  private readonly every: number;
  private readonly maxDrift: number;
  private readonly maxRetries: number;

  /** @param timeAnchor times the anchor variant, returns its median in ns. */
  constructor(
    private readonly timeAnchor: () => Promise<number>,
    private readonly opts: AnchorOptions = {},
  ) {
    this.every = opts.every ?? 8;
    this.maxDrift = (opts.maxDriftPct ?? 5) / 100;
    this.maxRetries = opts.maxRetries ?? 2;
  }

  private async anchorNs(): Promise<number> {
    this.events.anchorTimings++;
    return this.timeAnchor();
  }

  /**
   * Measure `key` with `time` (which may be called again if a drift is detected later). Returns the
   * result accepted so far; read `results` after `finish()` for the final values.
   */
  async measure(key: string, time: () => Promise<T>): Promise<T> {
    if (this.referenceNs === null) this.referenceNs = await this.anchorNs();
    this.results.set(key, await time());
    this.pending.push({ key, time });
    if (this.pending.length >= this.every) await this.check();
    return this.results.get(key)!;
  }

  /** Check the anchor now if anything was measured since the last clean anchor. */
  async finish(): Promise<void> {
    if (this.pending.length > 0) await this.check();
  }

  private async check(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const a = await this.anchorNs();
      const ref = this.referenceNs!;
      if (Math.abs(a - ref) <= this.maxDrift * ref) break;
      this.events.drifts++;
      if (attempt >= this.maxRetries) {
        this.referenceNs = a;
        this.events.rebased++;
        break;
      }
      if (this.opts.cooldown) await this.opts.cooldown();
      for (const p of this.pending) {
        this.results.set(p.key, await p.time());
        this.events.retimed++;
      }
    }
    this.pending = [];
  }
}
