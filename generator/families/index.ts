/**
 * Registry of every kernel family. Order within an op: preferred-first candidates for the tuner
 * (specialised families before the general one).
 */
import type { OpName } from '../ops';
import type { KernelFamily } from '../schema';
import { add } from './add';
import { addRmsNorm } from './add_rms_norm';
import { argmax } from './argmax';
import { attentionCoopmat } from './attention_coopmat';
import { attentionOVec } from './attention_o_vec';
import { attentionTile } from './attention_tile';
import { attentionVec } from './attention_vec';
import { copy } from './copy';
import { embed } from './embed';
import { ffnVecq } from './ffn_vecq';
import { matmulCoopmat } from './matmul_coopmat';
import { matmulCoopmat2 } from './matmul_coopmat2';
import { matmulTile } from './matmul_tile';
import { matmulVec } from './matmul_vec';
import { matmulVecq } from './matmul_vecq';
import { rmsNorm } from './rms_norm';
import { ropeKv } from './rope_kv';
import { swiglu } from './swiglu';

export { add, addRmsNorm, argmax, attentionCoopmat, attentionOVec, attentionTile, attentionVec, copy, embed, ffnVecq, matmulCoopmat, matmulCoopmat2, matmulTile, matmulVec, matmulVecq, rmsNorm, ropeKv, swiglu };

export const families: KernelFamily<any>[] = [
  matmulVec,
  matmulVecq,
  matmulCoopmat2,
  matmulCoopmat,
  matmulTile,
  ffnVecq,
  attentionVec,
  attentionOVec,
  attentionCoopmat,
  attentionTile,
  rmsNorm,
  addRmsNorm,
  ropeKv,
  swiglu,
  add,
  embed,
  argmax,
  copy,
];

{
  const seen = new Set<string>();
  for (const f of families) {
    if (seen.has(f.id)) throw new Error(`duplicate kernel family id ${f.id}`);
    seen.add(f.id);
  }
}

/** The families implementing `op` (registry order). */
export function familiesForOp(op: OpName | string): KernelFamily<any>[] {
  return families.filter((f) => f.op === op);
}

/** The family with this id. @throws Error listing the known ids when there is none. */
export function familyById(id: string): KernelFamily<any> {
  const f = families.find((x) => x.id === id);
  if (!f) throw new Error(`unknown kernel family "${id}" (known: ${families.map((x) => x.id).join(', ')})`);
  return f;
}
