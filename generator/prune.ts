/**
 * Pruning a family's parameter space for a device: every point of the Cartesian product that the
 * family's reject() accepts is kept; rejected points are counted by reason (the reject() string up to
 * its first ':' so numeric details do not split counts). The family's defaults are not special-cased.
 */
import { type DeviceLimits, type KernelFamily, type Params, type TemplateInstance, parameterSpace } from './schema';

export interface PrunedSpace {
  /** Accepted parameter points, in parameterSpace() order. */
  kept: Params[];
  /** Rejected point counts by reason. */
  rejected: Record<string, number>;
}

/**
 * The family's parameter space for one instance, pruned by `family.reject` against the device limits.
 * @returns kept points (in parameterSpace order) and rejected counts keyed by reason (text before ":").
 */
export function enumerateVariants(family: KernelFamily<any>, instance: TemplateInstance, limits: DeviceLimits): PrunedSpace {
  const kept: Params[] = [];
  const rejected: Record<string, number> = {};
  for (const p of parameterSpace(family)) {
    const why = family.reject(p, instance, limits);
    if (why === null) kept.push(p);
    else {
      const reason = why.split(':')[0];
      rejected[reason] = (rejected[reason] ?? 0) + 1;
    }
  }
  return { kept, rejected };
}

/** Why an instance cannot be used on a device (missing device features), or null. */
export function instanceUnsupported(instance: TemplateInstance, limits: DeviceLimits): string | null {
  const missing = (instance.requiresDevice ?? []).filter((f) => !limits[f]);
  return missing.length ? `device lacks ${missing.join(', ')}` : null;
}
