/**
 * Worker threads for synthModel: chunk jobs (runtime/synth.ts SynthChunkJob) computed ahead in parallel and
 * handed back in order, synchronously (the GGUF writer pulls chunks from plain generators): each job writes
 * into its own SharedArrayBuffer and raises a flag the main thread waits on with Atomics.wait.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { type SynthChunkJob, synthChunkBytes } from './synth';

/**
 * What a worker gets per job: the job, the output bytes to fill, and the status: an i32 flag to raise (1 done,
 * -1 failed) followed by STATUS_TEXT_BYTES of UTF-8 error text.
 */
export interface SynthWorkerMessage {
  job: SynthChunkJob;
  out: SharedArrayBuffer;
  status: SharedArrayBuffer;
}

/** Room for a failed job's error text in its status buffer. */
export const STATUS_TEXT_BYTES = 1024;

/** Synthesis jobs in flight on `workers` threads, at most 2 per thread ahead of the consumer. */
export class SynthPool {
  private readonly threads: Worker[];
  private readonly slots = new Map<number, { out: SharedArrayBuffer; status: SharedArrayBuffer }>();
  private submitted = 0;

  /**
   * @param jobs every chunk job, in the order take() will ask for them
   * @param tables the (seed, std) each worker builds its sampling tables from (synthTables)
   */
  constructor(workers: number, private readonly jobs: SynthChunkJob[], tables: { seed: number; std: number }) {
    this.threads = Array.from({ length: workers }, () => new Worker(path.join(__dirname, 'synth-worker.js'), { workerData: tables }));
    this.fill(0);
  }

  private fill(consumed: number): void {
    const ahead = 2 * this.threads.length;
    while (this.submitted < this.jobs.length && this.submitted < consumed + ahead) {
      const i = this.submitted++;
      const out = new SharedArrayBuffer(synthChunkBytes(this.jobs[i]));
      const status = new SharedArrayBuffer(4 + STATUS_TEXT_BYTES);
      this.slots.set(i, { out, status });
      const msg: SynthWorkerMessage = { job: this.jobs[i], out, status };
      this.threads[i % this.threads.length].postMessage(msg);
    }
  }

  /**
   * The bytes of job i (blocks until a worker has computed them); jobs must be taken in order.
   * @throws Error with the worker's message when the job failed.
   */
  take(i: number): Uint8Array {
    this.fill(i);
    const slot = this.slots.get(i);
    if (!slot) throw new Error(`SynthPool.take(${i}): jobs are taken in order, once each`);
    this.slots.delete(i);
    const flag = new Int32Array(slot.status, 0, 1);
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 1000);
    if (flag[0] < 0) {
      const text = Buffer.from(slot.status, 4).toString('utf8').replace(/\0+$/, '');
      throw new Error(`synth worker failed on chunk ${i}: ${text}`);
    }
    this.fill(i + 1);
    return new Uint8Array(slot.out);
  }

  /** Stop the threads (pending jobs are dropped). */
  close(): void {
    for (const w of this.threads) void w.terminate();
  }
}
