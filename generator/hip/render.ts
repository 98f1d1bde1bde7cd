/**
 * HIP source rendering: Handlebars over templates/*.hip.hbs with every templates/partials/*.hip.hbs
 * registered as a partial (name = file name without ".hip.hbs", e.g. {{> hip_common}}).
 *
 * Context of a render: the instance's `defines`, plus
 * - `family`, `instance`: the family id and instance key; `wave`: the wavefront size;
 * - `constants`: `#define NAME value` lines for WAVE and every tuned parameter of the variant (use with
 *   triple braces): the HIP counterpart of the GLSL spec constants;
 * - `entries`: one object per dispatch point, `{ name, targs, values }` (entry name from hipEntryName,
 *   `targs` = the template-argument list "<1, 0, 0, 0>" in dispatch-declaration order, `values` = the
 *   point), each to become one `extern "C" __global__` function;
 * - `dispatchNames`: the dispatch parameter names in order (template parameter names of the body).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { templatesDir } from '../render';
import type { Params, TemplateInstance } from '../schema';
import { type HipFamily, dispatchPoints, dispatchReject, hipEntryName, hipFamilyLimits, hipParamNames, hipReject } from './families';

/** A variant of a HIP family to render: instance, tuned params (hipParamNames) and wavefront size. */
export interface HipVariant {
  hf: HipFamily;
  instance: TemplateInstance;
  /** Tuned parameters (the family's non-dispatch params plus HIP_PARAMS). */
  params: Params;
  /** Wavefront size the source is rendered for (32 or 64). */
  wave: number;
  /** Dispatch points to build as entries (default: every point the variant accepts). */
  dispatch?: Params[];
}

/** One rendered HIP source and its entry points. */
export interface RenderedHip {
  source: string;
  /** sha256 (hex) of `source`. */
  sourceSha256: string;
  entries: Array<{ name: string; dispatch: Params }>;
}

let engine: typeof Handlebars | null = null;
const cache = new Map<string, HandlebarsTemplateDelegate>();

/** The Handlebars environment of the HIP templates (partials *.hip.hbs and helpers eq/ne/or/and), built once. */
export function hipHandlebarsEnv(): typeof Handlebars {
  if (engine) return engine;
  const hb = Handlebars.create();
  const dir = path.join(templatesDir(), 'partials');
  for (const f of fs.readdirSync(dir).sort()) {
    if (f.endsWith('.hip.hbs')) hb.registerPartial(f.slice(0, -'.hip.hbs'.length), fs.readFileSync(path.join(dir, f), 'utf8'));
  }
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  engine = hb;
  return hb;
}

/** `#define` lines of a variant: WAVE, then each tuned parameter in hipParamNames order. */
export function hipConstantDecls(hf: HipFamily, params: Params, wave: number): string {
  const doc = (n: string): string => hf.family.params.find((p) => p.name === n)?.doc ?? 'HIP occupancy hint (0 = none)';
  return [`#define WAVE ${wave} // wavefront size of the target (hipcc -mwavefrontsize64 or native)`, ...hipParamNames(hf).map((n) => `#define ${n} ${params[n]} // ${doc(n)}`)].join('\n');
}

/**
 * The dispatch points variant `v` builds: `v.dispatch` when given (each must be valid), else every point
 * of the family that the family's reject() accepts for these params.
 * @throws Error naming the family, the point and the reason when a requested point is invalid.
 */
export function variantDispatch(v: HipVariant): Params[] {
  const limits = hipFamilyLimits(v.hf, v.wave);
  if (v.dispatch) {
    for (const d of v.dispatch) {
      const why = dispatchReject(v.hf, v.instance, v.params, d, limits);
      if (why) throw new Error(`${v.hf.family.id}/${v.instance.key}: dispatch point ${JSON.stringify(d)} rejected: ${why}`);
    }
    return v.dispatch;
  }
  return dispatchPoints(v.hf).filter((d) => dispatchReject(v.hf, v.instance, v.params, d, limits) === null);
}

/**
 * Render the HIP source of one variant.
 * @returns the source, its sha256 and the entry points it defines (at least one).
 * @throws Error naming family, instance and params when the variant is rejected (hipReject), has no
 *   valid dispatch point, or the template is missing or fails to render.
 */
export function renderHip(v: HipVariant): RenderedHip {
  const { hf, instance, params, wave } = v;
  const id = `${hf.family.id}/${instance.key} ${JSON.stringify(params)} wave${wave}`;
  const why = hipReject(hf, instance, params, wave);
  if (why) throw new Error(`render ${id}: variant rejected: ${why}`);
  const points = variantDispatch(v);
  if (!points.length) throw new Error(`render ${id}: no valid dispatch point`);
  const names = Object.keys(hf.dispatch);
  const entries = points.map((d) => ({ name: hipEntryName(hf, instance.key, d), dispatch: d }));
  let tpl = cache.get(hf.template);
  let source: string;
  try {
    if (!tpl) {
      tpl = hipHandlebarsEnv().compile(fs.readFileSync(path.join(templatesDir(), hf.template), 'utf8'), { noEscape: true, strict: true });
      cache.set(hf.template, tpl);
    }
    source = tpl({
      ...instance.defines,
      family: hf.family.id,
      instance: instance.key,
      wave,
      constants: hipConstantDecls(hf, params, wave),
      dispatchNames: names,
      entries: entries.map((e) => ({ name: e.name, values: e.dispatch, targs: `<${names.map((n) => e.dispatch[n]).join(', ')}>` })),
    });
  } catch (e) {
    throw new Error(`render ${id} (${hf.template}): ${(e as Error).message}`);
  }
  return { source, sourceSha256: createHash('sha256').update(source).digest('hex'), entries };
}
