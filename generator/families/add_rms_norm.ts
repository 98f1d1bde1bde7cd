/**
 * add_rms_norm (generator/ops.ts AddRmsNormShape): a residual add and the RMSNorm that reads its result, in one
 * dispatch (X += R, Y = rmsnorm(X) * W), for prompt chunks whose GEMMs do not fuse the residual: the add's
 * extra read and write of X and one dependent dispatch per pair are saved. One workgroup per row, shared-memory
 * tree sum of squares (as rms_norm). Bindings X (read-write), R, W, Y (f32). Push: rows u32, cols u32, eps f32.
 * Groups: rows (folded into x,y). VEC (set by plan): 4 when cols % 4 == 0, the rows then moved as vec4s (a quarter
 * of the load and store instructions); the grid is the same either way, so a kernel built before VEC (which
 * ignores it) still runs the plan.
 */
import type { AddRmsNormShape } from '../ops';
import type { KernelFamily } from '../schema';
import { rmsNorm } from './rms_norm';

/** rms_norm's parameters, push constants, grid and limits plus VEC; its own template and bindings. */
export const addRmsNorm: KernelFamily<AddRmsNormShape> = {
  ...rmsNorm,
  id: 'add_rms_norm',
  op: 'add_rms_norm',
  template: 'add_rms_norm.comp.hbs',
  params: [...rmsNorm.params, { name: 'VEC', values: [1], specId: 1, doc: '4: vec4 loads and stores (cols % 4 == 0); plan() sets it' }],
  defaults: { ...rmsNorm.defaults, VEC: 1 },
  plan: (s, p, instance) => {
    const plan = rmsNorm.plan(s, p, instance);
    return { ...plan, steps: plan.steps.map((st) => ({ ...st, specOverrides: { ...st.specOverrides, VEC: s.cols % 4 === 0 ? 4 : 1 } })) };
  },
  bindings: [
    { name: 'X', access: 'readwrite' },
    { name: 'R', access: 'read' },
    { name: 'W', access: 'read' },
    { name: 'Y', access: 'write' },
  ],
};
