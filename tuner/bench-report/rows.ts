/**
 * The rows `kpack report` reads, from JSONL files, with keys read defensively so the producers can evolve:
 *
 * Bench rows (`kpack bench --compare llama.cpp -o jsonl`; plain `kpack bench -o jsonl` and llama-bench's
 * own `-o jsonl` are accepted too):
 *   model, type, test ("pp512 @ d4096"), kind ("pp" | "tg"), tokens, depth, engine ("kpack",
 *   "llama.cpp Vulkan", ...), device, tps (t/s mean), sd (t/s sample sd).
 *   Alternatives read: tokensPerSecond | avg_ts for tps; stddev | stddev_ts for sd; kind, tokens and depth
 *   from the test name when absent; llama-bench's n_prompt, n_gen, n_depth, model_filename, model_type,
 *   backends, gpu_info; engine "kpack" when absent.
 * Per-op rows (`kpack bench-ops -o jsonl`):
 *   label, op, type, shape, device, our_us (kpack's time per op, microseconds), anchor_vulkan_us and
 *   anchor_cuda_us (ggml's, ../shared/ANCHORS.md; null or absent when none), tflops (kpack's TFLOP/s),
 *   gbps (kpack's GB/s of minimum traffic), pct_floor (percent of the memory or compute floor).
 *   Alternatives read: ours_us | us | kpack_us for our_us; anchorVulkanUs, anchorCudaUs (bench-ops'
 *   own keys); pctFloor | pctGemmPeak | pctAnchorFloor for pct_floor; label built from op, type and shape
 *   when absent. Rows with a `status` other than "ok" (bench-ops' unsupported rows) are skipped.
 *   Unknown keys are ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One bench measurement: one test of one engine on one model. */
export interface BenchPoint {
  model: string;
  type: string;
  test: string;
  kind: 'pp' | 'tg';
  tokens: number;
  depth: number;
  engine: string;
  device: string;
  /** Tokens per second (mean over the runs) and its sample standard deviation. */
  tps: number;
  sd: number;
}

/** One op measurement with the anchors' times for the same op and shape (microseconds). */
export interface OpPoint {
  label: string;
  op: string;
  type: string;
  shape: string;
  device: string;
  ourUs: number;
  anchorVulkanUs: number | null;
  anchorCudaUs: number | null;
  tflops: number | null;
  gbps: number | null;
  pctFloor: number | null;
}

/**
 * Parse a JSONL file: one JSON object per non-blank line.
 * @throws Error naming the file and line for unreadable files, invalid JSON or non-object lines.
 */
export function readJsonl(file: string): Array<{ where: string; value: Record<string, unknown> }> {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file (expected JSONL rows)`);
  const out: Array<{ where: string; value: Record<string, unknown> }> = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: expected a JSON object per line`);
    out.push({ where, value: value as Record<string, unknown> });
  });
  return out;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);
const first = <T>(...xs: Array<T | null>): T | null => xs.find((x) => x !== null) ?? null;

/**
 * Normalise one bench JSON object (see the module doc for the keys read).
 * @throws Error naming `where` when no t/s or no test (name, or kind + tokens) can be found.
 */
export function toBenchPoint(o: Record<string, unknown>, where: string): BenchPoint {
  const llamaBench = 'avg_ts' in o;
  const tps = first(num(o.tps), num(o.tokensPerSecond), num(o.avg_ts));
  if (tps === null) throw new Error(`${where}: no t/s (expected a number in "tps")`);
  const parsed = /^(pp|tg)(\d+)(?: @ d(\d+))?$/.exec(str(o.test) ?? '');
  let kind = (str(o.kind) ?? parsed?.[1] ?? null) as 'pp' | 'tg' | null;
  let tokens = first(num(o.tokens), parsed ? Number(parsed[2]) : null);
  if (llamaBench) {
    const np = num(o.n_prompt) ?? 0;
    kind = np > 0 ? 'pp' : 'tg';
    tokens = np > 0 ? np : num(o.n_gen);
  }
  if ((kind !== 'pp' && kind !== 'tg') || tokens === null) throw new Error(`${where}: no test (expected "test" like "pp512 @ d4096", or "kind" pp|tg and "tokens")`);
  const depth = first(num(o.depth), num(o.n_depth), parsed?.[3] ? Number(parsed[3]) : null) ?? 0;
  const model = first(str(o.model), str(o.model_filename)) ?? '?';
  return {
    model: path.basename(model),
    type: first(str(o.type), str(o.model_type)) ?? '',
    test: `${kind}${tokens}` + (depth > 0 ? ` @ d${depth}` : ''),
    kind,
    tokens,
    depth,
    engine: str(o.engine) ?? (llamaBench ? `llama-bench ${str(o.backends) ?? ''}`.trim() : 'kpack'),
    device: first(str(o.device), str(o.gpu_info)) ?? '',
    tps,
    sd: first(num(o.sd), num(o.stddev), num(o.stddev_ts)) ?? 0,
  };
}

/**
 * Normalise one per-op JSON object (see the module doc for the keys read); null for a row bench-ops marks as
 * not run (`status` other than "ok", e.g. "unsupported").
 * @throws Error naming `where` when there is no time (our_us) or nothing to name the op by.
 */
export function toOpPoint(o: Record<string, unknown>, where: string): OpPoint | null {
  if (typeof o.status === 'string' && o.status !== 'ok') return null;
  const ourUs = first(num(o.our_us), num(o.ours_us), num(o.us), num(o.kpack_us));
  if (ourUs === null || ourUs <= 0) throw new Error(`${where}: no positive time per op (expected "our_us" in microseconds)`);
  const op = str(o.op) ?? '';
  const type = str(o.type) ?? '';
  const shape = typeof o.shape === 'object' && o.shape !== null ? JSON.stringify(o.shape) : str(o.shape) ?? '';
  const label = str(o.label) ?? [op, type, shape].filter(Boolean).join(' ');
  if (!label) throw new Error(`${where}: no "label" (nor op, type or shape) to name the op by`);
  return {
    label,
    op,
    type,
    shape,
    device: str(o.device) ?? '',
    ourUs,
    anchorVulkanUs: first(num(o.anchor_vulkan_us), num(o.anchorVulkanUs)),
    anchorCudaUs: first(num(o.anchor_cuda_us), num(o.anchorCudaUs)),
    tflops: first(num(o.tflops), num(o.TFLOPs)),
    gbps: num(o.gbps),
    pctFloor: first(num(o.pct_floor), num(o.pctFloor), num(o.pctGemmPeak), num(o.pctAnchorFloor)),
  };
}
