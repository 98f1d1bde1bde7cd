/**
 * A SynthPool thread (runtime/synth-pool.ts): builds the sampling tables once from workerData {seed, std},
 * then computes each job it is sent into the job's shared buffer and raises its flag (1 done, -1 failed, with the error text after the flag).
 */
import { parentPort, workerData } from 'worker_threads';
import { synthChunk, synthTables } from './synth';
import { STATUS_TEXT_BYTES, type SynthWorkerMessage } from './synth-pool';

const tables = synthTables(workerData.seed, workerData.std);
parentPort!.on('message', ({ job, out, status }: SynthWorkerMessage) => {
  const f = new Int32Array(status, 0, 1);
  try {
    new Uint8Array(out).set(synthChunk(job, tables));
    Atomics.store(f, 0, 1);
  } catch (e) {
    const text = Buffer.from(String((e as Error).message ?? e)).subarray(0, STATUS_TEXT_BYTES);
    new Uint8Array(status, 4).set(text);
    Atomics.store(f, 0, -1);
  }
  Atomics.notify(f, 0);
});
