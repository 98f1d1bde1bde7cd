import type { CommandModule } from 'yargs';
import { KernelSet } from '../../runtime/kernels';
import { ANCHORS, ANCHOR_COPY_BYTES_PER_S, ANCHOR_DEVICE, ANCHOR_SOURCE } from '../../tuner/anchors';
import { type OpsBenchReport, type RowResult, type VariantChooser, formatParams, runOpsBench, selectAnchors } from '../../tuner/ops-bench';
import { formatBytes, openDevice, parseDuration } from '../common';
import { type PackChoice, choosePacks } from '../packs';

/** --scale: a positive integer. @throws Error naming the option. */
function parseScale(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--scale ${value}: expected a positive integer (M, K, kv and nb are divided by it)`);
  return n;
}

/** --filter: a regular expression. @throws Error naming the option and the parser's complaint. */
function parseFilter(value: unknown): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(String(value));
  } catch (e) {
    throw new Error(`--filter ${value}: not a regular expression (${(e as Error).message})`);
  }
}

/** `kpack bench-ops`: the ANCHORS.md ops timed with the installed pack, beside the anchors and the roofline. */
export const benchOpsCommand: CommandModule<object, any> = {
  command: 'bench-ops',
  describe: 'Time the ANCHORS.md GEMM/GEMV and attention cases with the pack, beside the anchors and the measured roofline',
  builder: (y) =>
    y.options({
      device: { type: 'number', default: 0, describe: 'Vulkan device index (kpack devices)' },
      pack: { type: 'string', describe: 'kernel pack (default: the installed pack for this device, else built-in defaults)' },
      'default-kernels': { type: 'boolean', default: false, describe: 'use only the built-in default variants (ignore packs)' },
      'force-pack': { type: 'boolean', default: false, describe: 'use a pack tuned for another device (with a warning)' },
      filter: { type: 'string', describe: 'regular expression on row labels, e.g. "matmul q4_0" or "attn .* nb=1$"' },
      scale: { type: 'string', default: '1', describe: 'divide M, K, kv and prefill nb by this integer (anchor columns then show "-")' },
      'row-time': { type: 'string', default: '3s', describe: 'timing cap per row (e.g. 500ms, 3s)' },
      'copy-mib': { type: 'number', describe: 'copy-bandwidth buffer size in MiB (default 1024, 64 on CPU devices; capped by the device)' },
      o: { choices: ['table', 'jsonl'], default: 'table', describe: 'output format' },
    }),
  handler: (args) => {
    const scale = parseScale(args.scale);
    const anchors = selectAnchors(ANCHORS, parseFilter(args.filter));
    const maxTimeMs = parseDuration('row-time', args['row-time']);
    const copyMiB = args['copy-mib'];
    if (copyMiB !== undefined && !(Number.isInteger(copyMiB) && copyMiB >= 1)) throw new Error(`--copy-mib ${copyMiB}: expected a positive integer`);
    const ctx = openDevice(args.device);
    try {
      const choice = choosePacks(ctx, args.pack, args['force-pack'], args['default-kernels']);
      process.stderr.write(`${choice.description}\n`);
      const kernels = new KernelSet(ctx, choice.packs);
      const chooser: VariantChooser = { pipelines: kernels.pipelines, choose: (req) => kernels.choose(req as Parameters<KernelSet['choose']>[0]) };
      try {
        const report = runOpsBench(ctx, chooser, anchors, {
          scale,
          timing: { maxTimeMs },
          copyBytes: copyMiB === undefined ? undefined : copyMiB * 2 ** 20,
          onProgress: (done, total, what) => process.stderr.write(`bench-ops [${done + 1}/${total}] ${what}\n`),
        });
        if (args.o === 'jsonl') printJsonl(report, choice);
        else printTable(report, choice.description);
      } finally {
        kernels.destroy();
      }
      ctx.savePipelineCache();
    } finally {
      ctx.destroy();
    }
  },
};

const fixed = (x: number | null, digits: number): string => (x === null ? '-' : x.toFixed(digits));
const pct = (x: number | null): string => (x === null ? '-' : x >= 10 ? x.toFixed(1) : x.toPrecision(2));
const us = (x: number | null): string => (x === null ? '-' : x.toFixed(x < 100 ? 2 : 1));
const gbps = (bytesPerS: number): string => `${(bytesPerS / 1e9).toPrecision(3)} GB/s`;
const flopRate = (flopsPerS: number): string => (flopsPerS >= 1e12 ? `${(flopsPerS / 1e12).toFixed(1)} TFLOP/s` : `${(flopsPerS / 1e9).toPrecision(3)} GFLOP/s`);

function shapeText(r: RowResult): string {
  if (r.op === 'matmul') {
    const s = r.shape as { M: number; N: number; K: number };
    return `M=${s.M} K=${s.K} N=${s.N}`;
  }
  const s = r.shape as { D: number; heads: number; kvHeads: number; kvLength: number; queries: number; causal: boolean };
  return `D=${s.D} H=${s.heads}/${s.kvHeads} kv=${s.kvLength} nb=${s.queries}${s.causal ? '' : ' nomask'}`;
}

function kernelText(r: RowResult): string {
  if (r.status === 'unsupported') return `unsupported: ${r.reason}`;
  return `${r.family} ${formatParams(r.params!)} (${r.level}, ${r.pack})`;
}

/** One JSON object per row, with the run's device, kernels, copy rate and GEMM peak in each. */
function printJsonl(report: OpsBenchReport, choice: PackChoice): void {
  const best = report.copy[0];
  const cmd = report.copy.find((c) => c.label === 'vkCmdCopyBuffer');
  const run = {
    device: report.device,
    kernels: choice.description.replace(/^kernels: /, ''),
    packs: choice.packs.map((p) => p.name),
    copyGBps: best.bytesPerS / 1e9,
    copyMethod: best.label,
    copyBytes: best.bytes,
    cmdCopyGBps: cmd ? cmd.bytesPerS / 1e9 : null,
    anchorCopyGBps: ANCHOR_COPY_BYTES_PER_S / 1e9,
    gemmPeakTflops: report.roofs.gemmPeakFlopsPerS === null ? null : report.roofs.gemmPeakFlopsPerS / 1e12,
    gemmPeakSource: report.gemmPeakSource,
    gemmSquareTflops: report.gemmPeak.tflops,
    gemmSquareKernel: report.gemmPeak.family ? `${report.gemmPeak.family} ${formatParams(report.gemmPeak.params!)}` : null,
    anchorSource: ANCHOR_SOURCE,
    anchorDevice: ANCHOR_DEVICE,
  };
  for (const r of report.rows) console.log(JSON.stringify({ ...r, ...run }));
}

/** The run's roofs, then a markdown table of the rows. */
function printTable(report: OpsBenchReport, kernels: string): void {
  const best = report.copy[0];
  const cmd = report.copy.find((c) => c.label === 'vkCmdCopyBuffer');
  const peak = report.gemmPeak;
  const scale = report.rows[0].scale;
  console.log(`device: ${report.device}; ${kernels}`);
  const kernel = report.copy.find((c) => c !== cmd);
  const others = [cmd, kernel].filter((c) => c && c !== best).map((c) => `${c!.label} ${gbps(c!.bytesPerS)}`);
  console.log(`copy: ${gbps(best.bytesPerS)} (${best.label}, ${formatBytes(best.bytes)}, read + write)${others.length ? `; ${others.join('; ')}` : ''}`);
  const peakRate = report.roofs.gemmPeakFlopsPerS;
  const square = peak.status === 'ok' ? `${peak.label}: ${flopRate(peak.flops / (peak.us! * 1e-6))}, ${kernelText(peak)}` : `${peak.label}: ${peak.reason}`;
  console.log(peakRate === null ? `GEMM peak: not measured (${square})` : `GEMM peak: ${flopRate(peakRate)} (best of ${report.gemmPeakSource}; ${square})`);
  console.log(`anchors: ${ANCHOR_SOURCE}, ${ANCHOR_DEVICE}; ratio = faster anchor / kpack (> 1: kpack wins)`);
  if (scale !== 1) console.log(`shapes scaled down by ${scale}: the anchor columns do not apply`);
  const header = ['row', 'shape', 'kpack us', 'Vulkan us', 'CUDA us', 'ratio', 'rate', '% 4.3TB/s floor', '% copy floor', '% GEMM peak', 'kernel'];
  const body = report.rows.map((r) => [
    r.label,
    shapeText(r),
    us(r.us),
    us(r.anchorVulkanUs),
    us(r.anchorCudaUs),
    fixed(r.ratio, 2),
    r.status !== 'ok' ? '-' : r.bound === 'memory' ? gbps(r.gbps! * 1e9) : flopRate(r.tflops! * 1e12),
    pct(r.pctAnchorFloor),
    pct(r.pctCopyFloor),
    pct(r.pctGemmPeak),
    kernelText(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const numeric = (i: number) => i >= 2 && i <= 9;
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |';
  const sep = '| ' + widths.map((w, i) => (numeric(i) ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ') + ' |';
  console.log([line(header), sep, ...body.map(line)].join('\n'));
}
