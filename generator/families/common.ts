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

/** Family with only a WG parameter: reject by device limits, shared = sharedPerInvocation * WG. */
export function wgOnlyReject(p: Params, sharedBytes: number, limits: DeviceLimits): string | null {
  if (!isPow2(p.WG)) return 'WG not a power of two';
  return limitReject(p.WG, sharedBytes, limits);
}
