/**
 * The tuning report: one row per measured point (op, shape) with the bucket's winner, its median
 * time, throughput (TFLOP/s, and GB/s of minimum traffic), percent of the roofline and speed-up over
 * the default variant. Rendered as plain aligned text or as JSON.
 */
export interface ReportRow {
  op: string;
  /** Workload label, e.g. "q,o f16 2048x2048 N=1". */
  label: string;
  bucket: string;
  /** Winner variant key (family/instance/params). */
  winner: string;
  /** Winner median, ns. */
  medianNs: number;
  /** Default variant median at the same point, ns. */
  defaultNs: number;
  /** defaultNs / medianNs. */
  speedup: number;
  tflops: number;
  /** Minimum bytes moved / time, GB/s (1e9 bytes). */
  gbps: number;
  /** Percent of the roofline (null when unknown). */
  rooflinePct: number | null;
  bound: 'compute' | 'memory' | null;
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
  return `${ns.toFixed(0)} ns`;
}

/** Plain aligned text table, one block per op. */
export function formatReport(rows: ReportRow[]): string {
  const head = ['shape', 'winner', 'time', 'TFLOP/s', 'GB/s', 'roofline', 'vs default'];
  const lines: string[] = [];
  for (const op of [...new Set(rows.map((r) => r.op))]) {
    const table = rows
      .filter((r) => r.op === op)
      .map((r) => [
        r.label,
        r.winner,
        fmtNs(r.medianNs),
        r.tflops.toFixed(3),
        r.gbps.toFixed(1),
        r.rooflinePct === null ? '-' : `${r.rooflinePct.toFixed(1)}% ${r.bound === 'compute' ? 'C' : 'M'}`,
        `${r.speedup.toFixed(2)}x`,
      ]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
    const fmt = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
    lines.push(`== ${op} ==`, fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...table.map(fmt), '');
  }
  return lines.join('\n');
}

/** JSON form (stable field order). */
export function reportJson(rows: ReportRow[]): string {
  return JSON.stringify({ rows }, null, 2);
}
