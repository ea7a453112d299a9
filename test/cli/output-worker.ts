/** A worker for worker-stream.test.ts: writes `total` bytes in 1 KiB writes, then says so. Not a test file. */
import { parentPort, workerData } from 'node:worker_threads';
import { WorkerOutput, WorkerOutputFlow } from '../../src/cli/worker-stream.js';

const { flow, total } = workerData as { flow: Int32Array; total: number };
const out = new WorkerOutput(new WorkerOutputFlow(parentPort!, flow), 0, {
  isTTY: false,
  columns: 80,
  rows: 24,
  onlcr: false,
});
const chunk = Buffer.alloc(1024, 0x61);
for (let sent = 0; sent < total; sent += chunk.length) out.write(chunk);
parentPort!.postMessage({ t: 'finished' });
