/**
 * Resumable tuning journal: JSONL next to the output (`<out>.journal`).
 * Line 1 is a header (device fingerprint, toolchain, workloads/config hash); every further line is
 * one completed measurement (validation or timing of a (workload, variant) pair). Lines are appended
 * with fs.appendFileSync, one call per line, so a kill loses at most the measurement in flight; a
 * truncated last line is dropped on load. A journal whose header differs from this run's is
 * rejected: its results belong to another device or configuration.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Summary } from './stats';

export interface JournalHeader {
  kind: 'kpack-tune-journal';
  version: 1;
  /** Device fingerprint (any JSON, compared canonically). */
  device: unknown;
  /** Toolchain that compiled the SPIR-V (any JSON). */
  toolchain: unknown;
  /** Hash of the workloads and tuner configuration (see hashConfig). */
  config: string;
}

export type JournalRecord =
  | { kind: 'validate'; workload: string; variant: string; ok: boolean; relError: number | null; reason?: string }
  | { kind: 'time'; workload: string; variant: string; effort: number; stats: Summary }
  /** Written just before a variant's first validation; a run that dies inside it leaves only this. */
  | { kind: 'attempt'; workload: string; variant: string };

/** sha256 of a canonical (key-sorted) JSON of `x`. */
export function hashConfig(x: unknown): string {
  return createHash('sha256').update(canonicalJson(x)).digest('hex').slice(0, 16);
}

function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return '[' + x.map(canonicalJson).join(',') + ']';
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    return '{' + Object.keys(o).sort().map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',') + '}';
  }
  return JSON.stringify(x ?? null);
}

const recordKey = (r: JournalRecord): string =>
  r.kind === 'validate' ? `v|${r.workload}|${r.variant}` : r.kind === 'attempt' ? `a|${r.workload}|${r.variant}` : `t|${r.workload}|${r.variant}|${r.effort}`;

/** Reason given to a variant whose validation an earlier run began and never finished. */
export const UNFINISHED_REASON = 'its validation did not finish in an earlier run (GPU hang, crash or kill); not retried';

/** Thrown when a journal file belongs to another device, toolchain or tuning configuration. */
export class JournalMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalMismatchError';
  }
}

/**
 * Append-only JSONL journal of an autotune run: a header line (device, toolchain, config hash) and one
 * line per validation/timing result, flushed per line so a killed run resumes where it stopped. Each
 * validation is preceded by an 'attempt' line: on resume, an attempt without a result marks the variant
 * failed (getValidation), so a kernel that hung the GPU or crashed the driver is skipped, not re-run.
 * @throws JournalMismatchError when the file's header differs from this run's.
 */
export class Journal {
  private readonly records = new Map<string, JournalRecord>();
  /** 'attempt' keys loaded from the file (this run's own attempts do not count as unfinished). */
  private readonly resumedAttempts = new Set<string>();
  /** Records loaded from an existing journal (0 on a fresh one). */
  readonly resumed: number;

  /**
   * Open (resume) or create the journal at `path` for this run's header.
   * @throws JournalMismatchError when an existing journal's header differs (device, toolchain or config),
   *   or a line other than the last is not valid JSON.
   */
  constructor(
    readonly path: string,
    header: Omit<JournalHeader, 'kind' | 'version'>,
  ) {
    const want: JournalHeader = { kind: 'kpack-tune-journal', version: 1, ...header };
    if (!fs.existsSync(path) || fs.statSync(path).size === 0) {
      fs.writeFileSync(path, JSON.stringify(want) + '\n');
      this.resumed = 0;
      return;
    }
    const text = fs.readFileSync(path, 'utf8');
    const complete = text.split('\n').slice(0, -1); // the last piece is "" or a torn line
    let have: JournalHeader;
    try {
      have = JSON.parse(complete[0] ?? '');
    } catch {
      throw new JournalMismatchError(`${path}: not a kpack tuning journal (unreadable header); delete it to start over`);
    }
    for (const field of ['kind', 'version', 'device', 'toolchain', 'config'] as const) {
      if (canonicalJson(have[field]) !== canonicalJson(want[field])) {
        throw new JournalMismatchError(
          `${path} was written by another tuning run (${field} differs: journal has ${canonicalJson(have[field])}, ` +
            `this run has ${canonicalJson(want[field])}); delete it or choose another output to tune from scratch`,
        );
      }
    }
    for (let i = 1; i < complete.length; i++) {
      let r: JournalRecord;
      try {
        r = JSON.parse(complete[i]);
      } catch {
        throw new JournalMismatchError(`${path}:${i + 1}: corrupt journal line (not JSON); delete the journal`);
      }
      this.records.set(recordKey(r), r);
      if (r.kind === 'attempt') this.resumedAttempts.add(recordKey(r));
    }
    this.resumed = this.records.size;
    // drop a torn last line so the next append starts on a fresh line
    const good = complete.map((l) => l + '\n').join('');
    if (good.length !== text.length) fs.writeFileSync(path, good);
  }

  /**
   * The validation result of a variant on a workload: the journaled one, or a failure (UNFINISHED_REASON)
   * when an earlier run journaled an 'attempt' for it and no result, so a kernel that hangs the GPU is
   * not launched again on resume; undefined when never attempted.
   */
  getValidation(workload: string, variant: string): Extract<JournalRecord, { kind: 'validate' }> | undefined {
    const r = this.records.get(`v|${workload}|${variant}`) as Extract<JournalRecord, { kind: 'validate' }> | undefined;
    if (r || !this.resumedAttempts.has(`a|${workload}|${variant}`)) return r;
    return { kind: 'validate', workload, variant, ok: false, relError: null, reason: UNFINISHED_REASON };
  }

  getTiming(workload: string, variant: string, effort: number): Summary | undefined {
    const r = this.records.get(`t|${workload}|${variant}|${effort}`);
    return r && r.kind === 'time' ? r.stats : undefined;
  }

  /** Append one record (a later record for the same key supersedes it, e.g. after an anchor re-time). */
  append(r: JournalRecord): void {
    fs.appendFileSync(this.path, JSON.stringify(r) + '\n');
    this.records.set(recordKey(r), r);
  }

  get size(): number {
    return this.records.size;
  }
}
