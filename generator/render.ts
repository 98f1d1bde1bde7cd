/**
 * Template rendering: Handlebars over templates/*.comp.hbs with every templates/partials/*.glsl.hbs
 * registered as a partial (name = file name without ".glsl.hbs", e.g. {{> common}}).
 *
 * Context of a render: the instance's `defines`, plus
 * - `family`: the family id, `instance`: the instance key;
 * - `spec`: parameter name -> spec-constant id (from the schema, the single source of truth);
 * - `defaults`: parameter name -> default value;
 * - `specConstants`: ready-made GLSL declarations of every parameter,
 *   `layout(constant_id = <id>) const uint <NAME> = <default>;` (use with triple braces).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import type { KernelFamily, TemplateInstance } from './schema';

/** The package root (directory holding package.json and templates/), found from this file, not cwd. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'templates'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`kpack: package root not found above ${__dirname}`);
    dir = up;
  }
}

/** Absolute path of the templates/ directory (from the package root, not the working directory). */
export const templatesDir = (): string => path.join(packageRoot(), 'templates');

let engine: typeof Handlebars | null = null;
const templateCache = new Map<string, HandlebarsTemplateDelegate>();

/** The Handlebars environment with all partials and helpers registered (built once). */
export function handlebarsEnv(): typeof Handlebars {
  if (engine) return engine;
  const hb = Handlebars.create();
  const partialsDir = path.join(templatesDir(), 'partials');
  if (fs.existsSync(partialsDir)) {
    for (const f of fs.readdirSync(partialsDir).sort()) {
      if (!f.endsWith('.glsl.hbs')) continue;
      hb.registerPartial(f.slice(0, -'.glsl.hbs'.length), fs.readFileSync(path.join(partialsDir, f), 'utf8'));
    }
  }
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('not', (a: unknown) => !a);
  engine = hb;
  return hb;
}

/** GLSL type name of a spec constant type. */
const glslType = { u32: 'uint', i32: 'int', f32: 'float', bool: 'bool' } as const;

/** GLSL declarations of all of a family's spec constants, defaults from the schema. */
export function specConstantDecls(family: KernelFamily<any>): string {
  return family.params
    .map((s) => {
      const t = s.type ?? 'u32';
      const d = family.defaults[s.name];
      const v = t === 'bool' ? (d ? 'true' : 'false') : t === 'u32' ? `${d}u` : t === 'f32' ? (Number.isInteger(d) ? `${d}.0` : `${d}`) : `${d}`;
      return `layout(constant_id = ${s.specId}) const ${glslType[t]} ${s.name} = ${v}; // ${s.doc}`;
    })
    .join('\n');
}

/**
 * Render one template instance of a family to GLSL source.
 * @throws Error naming the family and instance if the template is missing or fails to render.
 */
export function renderInstance(family: KernelFamily<any>, instance: TemplateInstance): string {
  const hb = handlebarsEnv();
  let tpl = templateCache.get(family.template);
  try {
    if (!tpl) {
      const src = fs.readFileSync(path.join(templatesDir(), family.template), 'utf8');
      tpl = hb.compile(src, { noEscape: true, strict: true });
      templateCache.set(family.template, tpl);
    }
    const spec: Record<string, number> = {};
    for (const s of family.params) spec[s.name] = s.specId;
    return tpl({
      ...instance.defines,
      family: family.id,
      instance: instance.key,
      spec,
      defaults: family.defaults,
      specConstants: specConstantDecls(family),
    });
  } catch (e) {
    throw new Error(`render ${family.id}/${instance.key} (${family.template}): ${(e as Error).message}`);
  }
}

/** Version of the template engine (recorded in manifests). */
export const handlebarsVersion = (): string => Handlebars.VERSION;
