/** Run the built CLI (dist/bin/kpack.js) as a child process, as a user would. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const kpackJs = path.resolve(__dirname, '..', '..', 'bin', 'kpack.js');
export const sharedDir = path.resolve(__dirname, '..', '..', '..', '..', 'shared');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function kpack(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20 * 60_000): CliResult {
  const r = spawnSync(process.execPath, [kpackJs, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
