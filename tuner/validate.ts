/**
 * Correctness gate: every candidate must pass before it may be timed or win.
 *
 * One validation: fresh random inputs (Problem.randomize), output poisoned with the NaN bit pattern
 * 0x7fc00000 (vkCmdFillBuffer; zeros for ops that add into their output: Problem.outputFill), one run of the
 * variant's plan, download, then:
 * - any element still 0x7fc00000 -> "unwritten" (the plan does not cover the output; a kernel that
 *   writes the canonical NaN lands here too, and fails either way);
 * - any other NaN or an Inf -> "non-finite";
 * - relative error ||out - ref||_2 / ||ref||_2 above the tolerance -> "wrong";
 * - a plan with counters (DispatchPlan.counterWords, zeroed before the run) that leaves them non-zero ->
 *   "counters not left at zero" (they are zeroed again, so the next candidate starts clean).
 * Tolerances (relative L2, dtype-aware): f32 weights / f32 K,V 1e-4 (f32 accumulation in a different
 * order than the float64 reference: ~sqrt(K) * 2^-24 relative, far below 1e-4 for K <= 64k);
 * f16 weights 2e-3 and f16 K/V 2e-3 (the reference sees the same f16-rounded inputs, but kernels may
 * also round activations or P to f16 for cooperative matrices: 2^-11 ~ 4.9e-4 per element, random
 * errors averaging out in the L2 norm); q8_0 / q4_0 / q4_k / q6_k weights 2e-3, as f16: the reference
 * sees the exact dequantized weights (tuner/reference/quant.ts of the same bytes; q8_0 K/V likewise, 2e-3,
 * tuner/reference/kv-cache.ts), so the kernel's own
 * error is f32 accumulation (plus the f16 rounding of activations and dequantized weights a
 * cooperative-matrix kernel does: ~2^-12 relative RMS), well inside it; a wrong dequantization (a
 * nibble, sign or scale off) is far outside it. matmul.coopmat's f32 instance rounds f32 weights to f16
 * and so cannot meet the f32 bound: the tuner drops it for f32 models, by design. A family may declare a
 * looser bound of its own (KernelFamily.tolerance: matmul.vecq's 8-bit activations, 2e-2); the larger applies.
 */
import type { LaunchableVariant, PipelineCache } from '../generator/launch';
import { countersAtZero, recordVariant } from '../generator/launch';
import type { Context } from '../native/vulkan/api';
import type { Problem } from './problems';
import { relativeError } from './reference/matmul';

export const POISON_BITS = 0x7fc00000;

/** Relative L2 tolerance of an op instance (see the module doc). */
export function toleranceFor(op: string, instanceKey: string): number {
  void op;
  return instanceKey === 'f32' ? 1e-4 : 2e-3;
}

export interface Validation {
  ok: boolean;
  /** Relative L2 error (null when the output was unwritten or non-finite). */
  relError: number | null;
  tolerance: number;
  /** Why it failed: "unwritten: 12 of 4096 outputs", "non-finite: ...", "wrong: rel error 0.3 > 1e-4", or an Error message. */
  reason?: string;
}

/**
 * Validate a variant on a problem (fresh inputs each call).
 * Errors thrown by pipeline creation or submission are reported as a failed validation, not rethrown,
 * except a GPU timeout (native submit: the kernel never finished), which is rethrown: the device cannot be
 * used further, and the tuner's journal already marks the variant's attempt (tuner/journal.ts).
 */
export function validateVariant<Shape>(
  ctx: Context,
  cache: PipelineCache,
  variant: LaunchableVariant<Shape>,
  problem: Problem<Shape>,
  tolerance = Math.max(toleranceFor(problem.op, problem.instanceKey), variant.family.tolerance ?? 0),
): Validation {
  problem.randomize();
  const seq = ctx.createSequence();
  let bits: Uint32Array;
  try {
    const plan = variant.family.plan(problem.shape, variant.params, variant.instance);
    const [buffers] = problem.bufferSets(1, plan.scratchBytes);
    const out = buffers[problem.output.name];
    seq.fill(out, problem.outputFill, 0, problem.output.elems * 4);
    // counters zeroed afresh: a broken candidate that left them non-zero must not fail the next one
    if (plan.counterWords && buffers.counters) seq.fill(buffers.counters, 0);
    seq.barrier();
    recordVariant(seq, cache, variant, problem.shape, buffers, plan);
    seq.submit();
    bits = new Uint32Array(ctx.download(out, 0, problem.output.elems * 4));
    if (plan.counterWords && buffers.counters && !countersAtZero(ctx, buffers.counters, plan.counterWords)) {
      ctx.upload(buffers.counters, new Uint8Array(4 * plan.counterWords));
      return { ok: false, relError: null, tolerance, reason: 'counters not left at zero (DispatchPlan.counterWords)' };
    }
  } catch (e) {
    // a submission that never finished leaves the device unusable: stop, do not blame the next variant
    if (/GPU timeout/.test((e as Error).message)) throw e;
    return { ok: false, relError: null, tolerance, reason: `error: ${(e as Error).message}` };
  } finally {
    seq.destroy();
  }
  const values = new Float32Array(bits.buffer);
  let unwritten = 0;
  let nonFinite = 0;
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] === POISON_BITS && problem.outputFill === POISON_BITS) unwritten++;
    else if (!Number.isFinite(values[i])) nonFinite++;
  }
  const n = bits.length;
  if (unwritten) return { ok: false, relError: null, tolerance, reason: `unwritten: ${unwritten} of ${n} outputs` };
  if (nonFinite) return { ok: false, relError: null, tolerance, reason: `non-finite: ${nonFinite} of ${n} outputs are NaN/Inf` };
  const ref = problem.reference();
  const relError = relativeError(values, ref);
  if (!(relError <= tolerance)) {
    return { ok: false, relError, tolerance, reason: `wrong: relative error ${relError.toExponential(2)} > ${tolerance}` };
  }
  return { ok: true, relError, tolerance };
}
