/** Helpers shared by the family schemas (pure arithmetic, no template engine). */
import type { DeviceLimits, ParamSpec, Params, TemplateInstance } from '../schema';
import { ceilDiv } from '../schema';

/** Workgroup-count limit per dimension every Vulkan device guarantees. */
export const MAX_GROUPS_X = 65535;

/** A 1-D grid of `total` workgroups folded into x,y (kernels use linearGroup() and bounds checks). */
export function grid1d(total: number): [number, number, number] {
  if (total <= MAX_GROUPS_X) return [Math.max(total, 1), 1, 1];
  return [MAX_GROUPS_X, ceilDiv(total, MAX_GROUPS_X), 1];
}

/** The WG parameter (spec id 0 = local_size_x_id in every template). */
export function wgParam(values: readonly number[] = [32, 64, 128, 256, 512]): ParamSpec {
  return { name: 'WG', values, specId: 0, doc: 'workgroup size (invocations, x)' };
}

/** Device-limit checks common to all families; null when the variant fits. */
export function limitReject(wg: number, sharedBytes: number, limits: DeviceLimits): string | null {
  if (wg > limits.maxWorkgroupInvocations || wg > limits.maxWorkgroupSizeX) return 'workgroup size exceeds device limit';
  if (sharedBytes > limits.maxSharedMemoryBytes) return 'shared memory exceeds device limit';
  return null;
}

/** Whether v is a positive power of two. */
export const isPow2 = (v: number): boolean => v > 0 && (v & (v - 1)) === 0;

/** Weight-type instances f32 and f16 for templates taking a `WTYPE` define. */
export function dtypeInstances(define: string): TemplateInstance[] {
  return [
    { key: 'f32', defines: { [define]: 'f32' } },
    { key: 'f16', defines: { [define]: 'f16' } },
  ];
}

/**
 * Block-quantized weight instances 'q8_0' and 'q4_0' (ggml types, generator/ops.ts QUANT_BLOCKS) for the
 * matmul templates: `WTYPE` is the type name and `QUANT` is set; the template dequantizes A in
 * registers via the `dequant` partial (16-bit loads: every block starts on a 2-byte boundary).
 * Shapes need K % 32 == 0.
 */
export function quantInstances(define: string): TemplateInstance[] {
  return [
    // abiDelta 1: read in kpack's GPU layout (generator/weight-layout.ts), not as GGUF stores them
    { key: 'q8_0', defines: { [define]: 'q8_0', QUANT: true }, abiDelta: 1 },
    { key: 'q4_0', defines: { [define]: 'q4_0', QUANT: true }, abiDelta: 1 },
  ];
}

/**
 * ggml K-quant instances 'q4_k' and 'q6_k' (256-value super-blocks, generator/ops.ts QUANT_BLOCKS): `WTYPE`
 * is the type name, `QUANT` and `KQUANT` are set; the dequant partial decodes them in registers (16-bit
 * loads). Shapes need K % 256 == 0. matmul.vec, matmul.tile and embed use these; matmul.coopmat declares
 * the same defines itself (with its coopmat requirements).
 */
export function kquantInstances(define: string): TemplateInstance[] {
  return [
    { key: 'q4_k', defines: { [define]: 'q4_k', QUANT: true, KQUANT: true } },
    { key: 'q6_k', defines: { [define]: 'q6_k', QUANT: true, KQUANT: true } },
  ];
}

const QUANT_WTYPES: Record<string, number> = { q8_0: 32, q4_0: 32, q4_k: 256, q6_k: 256 };

/** Whether an instance holds block-quantized weights (its WTYPE is q8_0, q4_0, q4_k or q6_k). */
export const isQuantInstance = (instance: TemplateInstance): boolean => String(instance.defines.WTYPE) in QUANT_WTYPES;

/** Elements per quantization block of the q8_0 / q4_0 instances (K must be a multiple). */
export const QBLOCK = 32;

/** Elements per block of a quantized instance (32 for q8_0/q4_0, 256 for q4_k/q6_k); 1 when not quantized. */
export const quantBlockElems = (instance: TemplateInstance): number => QUANT_WTYPES[String(instance.defines.WTYPE)] ?? 1;

/**
 * Throws when a quantized instance is asked to plan a shape whose K is not whole blocks (supports() is
 * false for it; a plan would read past rows).
 */
export function assertQuantK(familyId: string, K: number, instance: TemplateInstance): void {
  const qb = quantBlockElems(instance);
  if (K % qb) throw new Error(`${familyId}/${instance.key}: K = ${K} is not a multiple of ${qb}`);
}

/** Family with only a WG parameter: reject by device limits, shared = sharedPerInvocation * WG. */
export function wgOnlyReject(p: Params, sharedBytes: number, limits: DeviceLimits): string | null {
  if (!isPow2(p.WG)) return 'WG not a power of two';
  return limitReject(p.WG, sharedBytes, limits);
}
