/**
 * The worker thread of one exec evaluation (see evaluator.ts). It evaluates one command as a
 * JavaScript script in its own global scope, awaits a promise it returns, and prints the value
 * as the REPL does, in full, with a newline; a throw goes to stderr. Everything it prints,
 * `console.log` output included, goes out through one port and so reaches the client in order.
 */
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { runInThisContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import type { EvaluateRequest, EvaluatorOutbound, EvaluatorWorkerData } from './evaluator-protocol.js';
import { formatTerm } from './exec.js';
import { redirectProcessStream, WorkerOutput, WorkerOutputFlow } from './worker-stream.js';

const port = parentPort!;
const { flow } = workerData as EvaluatorWorkerData;
const outFlow = new WorkerOutputFlow(port, flow);
const shape = { isTTY: false, columns: 80, rows: 24, onlcr: false };
const stdout = new WorkerOutput(outFlow, 0, shape);
const stderr = new WorkerOutput(outFlow, 1, shape);
redirectProcessStream(process.stdout, stdout);
redirectProcessStream(process.stderr, stderr);
Object.defineProperty(globalThis, 'require', {
  configurable: true,
  writable: true,
  value: createRequire(`${process.cwd()}/`),
});

/** The REPL's writer options, with strings and arrays printed in full. */
const WRITER = {
  ...inspect.defaultOptions,
  showProxy: true,
  maxStringLength: Infinity,
  maxArrayLength: Infinity,
};

const done = (status: 0 | -1) => port.postMessage({ t: 'done', status } satisfies EvaluatorOutbound);

port.once('message', (m: EvaluateRequest) => {
  void (async () => {
    try {
      let value: unknown = runInThisContext(m.command, { filename: 'seashell-exec' });
      if (
        value !== null &&
        typeof value === 'object' &&
        typeof (value as { then?: unknown }).then === 'function'
      ) {
        value = await value;
      }
      stdout.write(inspect(value, WRITER) + '\n');
      done(0);
    } catch (e) {
      stderr.write(Buffer.concat([formatTerm(e), Buffer.from('\n')]));
      done(-1);
    }
  })();
});
port.postMessage({ t: 'ready' } satisfies EvaluatorOutbound);
