/**
 * `kpack report`: a markdown page plus PNG charts from bench JSONL (kpack vs llama.cpp: t/s against depth for
 * pp and tg, one pair of charts per model file) and, optionally, per-op JSONL (TFLOP/s per op for kpack and
 * the anchors, and kpack's speed-up over them). Reads JSONL only (rows.ts lists the keys), so it runs
 * anywhere the files are, not only on the GPU that made them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { depthChartSpec, findFont, opsRatioSpec, opsTflopsSpec, renderPng } from './charts';
import { type BenchPoint, type OpPoint, readJsonl, toBenchPoint, toOpPoint } from './rows';

/** Inputs and output folder of writeReport. */
export interface ReportOptions {
  /** Bench JSONL files (`kpack bench --compare llama.cpp -o jsonl`); rows of all are merged. */
  bench: string[];
  /** Per-op JSONL files (`kpack bench-ops -o jsonl`), optional. */
  ops?: string[];
  /** Output folder: README.md and the PNGs go here (created). */
  out: string;
  /** The command line to print as "how to regenerate" (default: built from the options). */
  command?: string;
  /** Where warnings go (default stderr). */
  warn?: (line: string) => void;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtUs = (x: number | null) => (x === null ? '-' : x.toFixed(2));

function mdTable(header: string[], rows: string[][], rightFrom = 1): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i >= rightFrom ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** The side-by-side table of one model's bench points: test | engine columns | kpack / best other engine. */
export function benchMarkdownTable(points: BenchPoint[]): string {
  const engines = [...new Set(points.map((p) => p.engine))].sort((a, b) => (a === 'kpack' ? -1 : b === 'kpack' ? 1 : a.localeCompare(b)));
  const others = engines.filter((e) => e !== 'kpack');
  const tests = [...new Set(points.map((p) => p.test))];
  const rows = tests.map((t) => {
    const at = (e: string) => points.find((p) => p.test === t && p.engine === e);
    const cells = engines.map((e) => {
      const p = at(e);
      return p ? `${fmt(p.tps)} ± ${fmt(p.sd)}` : '-';
    });
    const ours = at('kpack');
    const best = Math.max(0, ...others.map((e) => at(e)?.tps ?? 0));
    return [t, ...cells, ...(others.length && engines.includes('kpack') ? [ours && best > 0 ? `${(ours.tps / best).toFixed(2)}x` : '-'] : [])];
  });
  const ratio = others.length && engines.includes('kpack') ? ['kpack / best other'] : [];
  return mdTable(['test', ...engines.map((e) => `${e} (t/s)`), ...ratio], rows);
}

/** The per-op table: label, our time, the anchors' times, TFLOP/s, GB/s, % of floor. */
export function opsMarkdownTable(ops: OpPoint[]): string {
  const rows = ops.map((o) => [
    o.label,
    fmtUs(o.ourUs),
    fmtUs(o.anchorVulkanUs),
    fmtUs(o.anchorCudaUs),
    o.tflops === null ? '-' : o.tflops.toFixed(3),
    o.gbps === null ? '-' : o.gbps.toFixed(0),
    o.pctFloor === null ? '-' : `${o.pctFloor.toFixed(0)}%`,
  ]);
  return mdTable(['op', 'kpack (us)', 'ggml Vulkan (us)', 'ggml CUDA (us)', 'kpack TFLOP/s', 'kpack GB/s', 'of floor'], rows);
}

/**
 * Read the JSONL inputs, render the charts and write `<out>/README.md`.
 * @returns the paths written (README.md first).
 * @throws Error naming the file and line of a bad row, or when the bench files hold no rows.
 */
export async function writeReport(opts: ReportOptions): Promise<string[]> {
  const warn = opts.warn ?? ((s: string) => process.stderr.write(s + '\n'));
  const bench = opts.bench.flatMap((f) => readJsonl(f).map((r) => toBenchPoint(r.value, r.where)));
  if (bench.length === 0) throw new Error(`${opts.bench.join(', ')}: no bench rows`);
  const ops = (opts.ops ?? []).flatMap((f) => readJsonl(f).map((r) => toOpPoint(r.value, r.where))).filter((o): o is OpPoint => o !== null);
  fs.mkdirSync(opts.out, { recursive: true });
  const font = findFont();
  if (!font) warn('kpack: no TrueType font found (set KPACK_REPORT_FONT, or install fonts-dejavu-core): charts without text');
  const written: string[] = [];
  const png = async (name: string, spec: Record<string, unknown>) => {
    const file = path.join(opts.out, name);
    fs.writeFileSync(file, await renderPng(spec, font));
    written.push(file);
    return name;
  };

  const devices = [...new Map([...bench, ...ops].filter((p) => p.device).map((p) => [('engine' in p ? p.engine : 'kpack ops'), p.device])).entries()];
  const md: string[] = [
    '# kpack vs llama.cpp',
    '',
    `Generated ${new Date().toISOString().slice(0, 10)} by \`${opts.command ?? ['kpack report', ...opts.bench.map((f) => `--bench ${f}`), ...(opts.ops ?? []).map((f) => `--ops ${f}`), `--out ${opts.out}`].join(' ')}\`.`,
    'Regenerate on your GPU: `kpack bench -m MODEL.gguf --compare llama.cpp -o jsonl > bench.jsonl`, then `kpack report --bench bench.jsonl --out DIR`.',
    '',
    ...devices.map(([e, d]) => `- ${e}: ${d}`),
  ];
  const models = [...new Set(bench.map((p) => `${p.model}\u0000${p.type}`))];
  for (const key of models) {
    const [model, type] = key.split('\u0000');
    const points = bench.filter((p) => p.model === model && p.type === type);
    const name = `${model}${type ? ` (${type})` : ''}`;
    md.push('', `## ${name}`, '', benchMarkdownTable(points), '');
    for (const kind of ['pp', 'tg'] as const) {
      for (const tokens of [...new Set(points.filter((p) => p.kind === kind).map((p) => p.tokens))]) {
        const series = points.filter((p) => p.kind === kind && p.tokens === tokens);
        const title = `${kind}${tokens}: ${name}`;
        const file = await png(`${slug(`${kind}${tokens}-${model}-${type}`)}.png`, depthChartSpec(series, title));
        md.push(`![${title}, t/s against depth](${file})`);
      }
    }
  }
  if (ops.length) {
    md.push('', '## Per op, against the anchors (../shared/ANCHORS.md)', '', opsMarkdownTable(ops), '');
    if (ops.some((o) => o.tflops !== null)) md.push(`![TFLOP/s per op](${await png('ops-tflops.png', opsTflopsSpec(ops, 'TFLOP/s per op: kpack and ggml'))})`);
    if (ops.some((o) => o.anchorVulkanUs || o.anchorCudaUs)) md.push(`![kpack speed-up over ggml per op](${await png('ops-vs-anchors.png', opsRatioSpec(ops, 'kpack speed-up over ggml per op'))})`);
  }
  const readme = path.join(opts.out, 'README.md');
  fs.writeFileSync(readme, md.join('\n') + '\n');
  return [readme, ...written];
}
