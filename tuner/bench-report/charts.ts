/**
 * The report's charts as Vega-Lite specifications, rendered headless: Vega-Lite compiles to Vega, Vega
 * draws SVG (no canvas, no browser), resvg (WebAssembly build, no native code, no download) rasterises it
 * to PNG with a TrueType font found on the system. vega, vega-lite and @resvg/resvg-wasm are optional
 * dependencies: only `kpack report` needs them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchPoint, OpPoint } from './rows';

/** A Vega-Lite specification (JSON). */
export type VlSpec = Record<string, unknown>;

const base = (title: string): VlSpec => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  width: 520,
  height: 300,
  padding: 12,
  background: 'white',
  config: { legend: { orient: 'bottom', columns: 2, labelLimit: 320 } },
});

/** The same colour for the same engine in every chart: kpack blue, Vulkan orange, CUDA red, CPU green. */
function engineColors(names: string[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(names)];
  const pick = (n: string) => (/kpack/i.test(n) ? '#4c78a8' : /vulkan/i.test(n) ? '#f58518' : /cuda/i.test(n) ? '#e45756' : /cpu/i.test(n) ? '#54a24b' : '#b279a2');
  return { domain, range: domain.map(pick) };
}

/**
 * t/s against KV depth, one line per engine, error bars at ± sd. Depths are evenly spaced categories
 * (0, 4096, 16384, 65536 would crowd a linear axis).
 */
export function depthChartSpec(points: BenchPoint[], title: string): VlSpec {
  const values = points.map((p) => ({ depth: p.depth, engine: p.engine, tps: p.tps, lo: Math.max(0, p.tps - p.sd), hi: p.tps + p.sd }));
  const x = { field: 'depth', type: 'ordinal', title: 'KV depth (tokens)', sort: 'ascending', scale: { type: 'point', padding: 0.5 }, axis: { labelAngle: 0 } };
  const color = { field: 'engine', type: 'nominal', title: null, scale: engineColors(values.map((v) => v.engine)) };
  return {
    ...base(title),
    data: { values },
    layer: [
      { mark: { type: 'line', point: { size: 50 } }, encoding: { x, y: { field: 'tps', type: 'quantitative', title: 'tokens per second (mean, bars: ± sd)' }, color } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
    ],
  };
}

/**
 * TFLOP/s per op for kpack and each anchor with a time for that op (an anchor's TFLOP/s is kpack's scaled
 * by kpack's time over the anchor's: the same work). Ops without a tflops figure are left out.
 */
export function opsTflopsSpec(ops: OpPoint[], title: string): VlSpec {
  const values: Array<{ label: string; engine: string; tflops: number }> = [];
  for (const o of ops) {
    if (o.tflops === null) continue;
    values.push({ label: o.label, engine: 'kpack', tflops: o.tflops });
    if (o.anchorVulkanUs) values.push({ label: o.label, engine: 'ggml Vulkan', tflops: (o.tflops * o.ourUs) / o.anchorVulkanUs });
    if (o.anchorCudaUs) values.push({ label: o.label, engine: 'ggml CUDA', tflops: (o.tflops * o.ourUs) / o.anchorCudaUs });
  }
  // Log axis (GEMV and GEMM differ by 10^4); bars start at the decade below the smallest value.
  const floor = 10 ** Math.floor(Math.log10(Math.min(1, ...values.map((v) => v.tflops).filter((t) => t > 0))));
  return {
    ...base(title),
    height: { step: 9 },
    data: { values: values.filter((v) => v.tflops > 0) },
    mark: 'bar',
    encoding: {
      y: { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 300 } },
      yOffset: { field: 'engine', type: 'nominal', sort: ['kpack', 'ggml Vulkan', 'ggml CUDA'] },
      x: { field: 'tflops', type: 'quantitative', title: 'TFLOP/s (log)', scale: { type: 'log', domainMin: floor } },
      x2: { datum: floor },
      color: { field: 'engine', type: 'nominal', title: null, scale: engineColors(['kpack', 'ggml Vulkan', 'ggml CUDA']) },
    },
  };
}

/**
 * Speed-up of kpack over each anchor per op (anchor time / kpack time), log axis: bars grow from 1, to the
 * right where kpack is faster, to the left where it is slower.
 */
export function opsRatioSpec(ops: OpPoint[], title: string): VlSpec {
  const values: Array<{ label: string; vs: string; ratio: number }> = [];
  for (const o of ops) {
    if (o.anchorVulkanUs) values.push({ label: o.label, vs: 'vs ggml Vulkan', ratio: o.anchorVulkanUs / o.ourUs });
    if (o.anchorCudaUs) values.push({ label: o.label, vs: 'vs ggml CUDA', ratio: o.anchorCudaUs / o.ourUs });
  }
  return {
    ...base(title),
    height: { step: 10 },
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 300 } },
          yOffset: { field: 'vs', type: 'nominal' },
          x: { field: 'ratio', type: 'quantitative', title: 'anchor time / kpack time (log; > 1: kpack faster)', scale: { type: 'log' } },
          x2: { datum: 1 },
          color: { field: 'vs', type: 'nominal', title: null, scale: engineColors(['vs ggml Vulkan', 'vs ggml CUDA']) },
        },
      },
      { mark: { type: 'rule', color: 'black' }, encoding: { x: { datum: 1 } } },
    ],
  };
}

// vega and vega-lite are ESM only; TypeScript's CommonJS output would turn a plain import() into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

async function load(name: string): Promise<any> {
  let resolved: string;
  try {
    resolved = require.resolve(name);
  } catch {
    throw new Error(`kpack report needs the npm package ${name} (an optional dependency of kpack): npm install ${name}`);
  }
  return importEsm(pathToFileURL(resolved).href);
}

/**
 * A sans-serif TrueType font for the charts' text: $KPACK_REPORT_FONT, else DejaVu Sans or Liberation Sans
 * where Debian, Fedora and Arch put them, else the first .ttf under /usr/share/fonts.
 * @returns the file, or null when there is none (charts are then drawn without text).
 */
export function findFont(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.KPACK_REPORT_FONT) return env.KPACK_REPORT_FONT;
  const known = [
    '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
    '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
    '/usr/share/fonts/TTF/DejaVuSans.ttf',
    '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  ];
  for (const f of known) if (fs.existsSync(f)) return f;
  const walk = (dir: string, depth: number): string | null => {
    if (depth > 4 || !fs.existsSync(dir)) return null;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isFile() && /\.ttf$/i.test(e.name)) return p;
      if (e.isDirectory()) {
        const found = walk(p, depth + 1);
        if (found) return found;
      }
    }
    return null;
  };
  return walk('/usr/share/fonts', 0);
}

/**
 * The family name (name id 1) of a TrueType/OpenType font, read from its 'name' table.
 * @returns the name, or null when the bytes hold no such record.
 */
export function fontFamily(ttf: Uint8Array): string | null {
  const v = new DataView(ttf.buffer, ttf.byteOffset, ttf.byteLength);
  if (ttf.byteLength < 12) return null;
  const tables = v.getUint16(4);
  for (let i = 0; i < tables; i++) {
    const rec = 12 + 16 * i;
    if (rec + 16 > ttf.byteLength) return null;
    if (String.fromCharCode(...ttf.subarray(rec, rec + 4)) !== 'name') continue;
    const at = v.getUint32(rec + 8);
    const count = v.getUint16(at + 2);
    const strings = at + v.getUint16(at + 4);
    for (let k = 0; k < count; k++) {
      const r = at + 6 + 12 * k;
      const [platform, nameId, len, off] = [v.getUint16(r), v.getUint16(r + 6), v.getUint16(r + 8), v.getUint16(r + 10)];
      if (nameId !== 1) continue;
      const bytes = ttf.subarray(strings + off, strings + off + len);
      if (platform === 3 || platform === 0) {
        let out = '';
        for (let j = 0; j + 1 < bytes.length; j += 2) out += String.fromCharCode((bytes[j] << 8) | bytes[j + 1]);
        return out;
      }
      if (platform === 1) return String.fromCharCode(...bytes);
    }
  }
  return null;
}

let wasmReady: Promise<void> | null = null;

/**
 * Render a Vega-Lite spec to a PNG at twice its CSS size.
 * @returns the PNG bytes.
 * @throws Error naming the missing package when vega, vega-lite or @resvg/resvg-wasm is not installed,
 *   or the font file when $KPACK_REPORT_FONT cannot be read.
 */
export async function renderPng(spec: VlSpec, font: string | null): Promise<Buffer> {
  const [vega, vl] = [await load('vega'), await load('vega-lite')];
  let resvg: any;
  try {
    resvg = require('@resvg/resvg-wasm');
  } catch {
    throw new Error('kpack report needs the npm package @resvg/resvg-wasm (an optional dependency of kpack): npm install @resvg/resvg-wasm');
  }
  wasmReady ??= resvg.initWasm(fs.readFileSync(require.resolve('@resvg/resvg-wasm/index_bg.wasm')));
  await wasmReady;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg: string = await view.toSVG();
  view.finalize();
  let fontBuffers: Uint8Array[] = [];
  let family = 'DejaVu Sans';
  if (font) {
    try {
      fontBuffers = [fs.readFileSync(font)];
    } catch (e) {
      throw new Error(`font ${font}: ${(e as Error).message} (set KPACK_REPORT_FONT to a .ttf file)`);
    }
    family = fontFamily(fontBuffers[0]) ?? family;
  }
  // Vega writes font-family="sans-serif" unless the spec names one; every family maps to the one font loaded.
  const r = new resvg.Resvg(svg.replace(/font-family="[^"]*"/g, `font-family="${family}"`), {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { fontBuffers, loadSystemFonts: false, defaultFontFamily: family, sansSerifFamily: family },
  });
  const png = r.render().asPng();
  r.free?.();
  return Buffer.from(png);
}
