import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  OutputRelay,
  sharedFlow,
  translateNewlines,
  WORKER_OUTPUT_LIMIT,
  WORKER_OUTPUT_PIECE,
} from '../../src/cli/worker-stream.js';

test('a pty turns LF into CR LF (ONLCR), each one, and leaves everything else alone', () => {
  const t = (s: string) => Buffer.from(translateNewlines(Buffer.from(s))).toString();
  assert.equal(t('a\nb\n'), 'a\r\nb\r\n');
  assert.equal(t('\n\n'), '\r\n\r\n');
  assert.equal(t('no newline'), 'no newline');
  assert.equal(t('already\r\n'), 'already\r\r\n', 'as a tty does: CR then CR LF');
});

test('a worker writing to a channel that does not drain stops after a bounded amount, then finishes', async () => {
  const total = 4 * 1024 * 1024;
  const flow = sharedFlow();
  const worker = new Worker(new URL('./output-worker.js', import.meta.url), { workerData: { flow, total } });
  let received = 0;
  let sent = 0;
  let maxOutstanding = 0;
  let release: (() => void) | undefined;
  let gate = new Promise<void>((r) => (release = r));
  const relay = new OutputRelay(
    flow,
    async (data) => {
      await gate;
      sent += data.length;
    },
    (e) => assert.fail(`relay failed: ${String(e)}`),
  );
  let finished = false;
  const done = new Promise<void>((resolve) =>
    worker.on('message', (m: { t: string; data?: Uint8Array }) => {
      if (m.t === 'out') {
        received += m.data!.length;
        maxOutstanding = Math.max(maxOutstanding, received - sent);
      }
      if (relay.handle(m)) return;
      if (m.t === 'finished') {
        finished = true;
        resolve();
      }
    }),
  );
  try {
    // Nothing is sent yet: the worker must stop once the limit is reached.
    while (received < WORKER_OUTPUT_LIMIT) await new Promise((r) => setTimeout(r, 5));
    assert.equal(finished, false, 'the worker waits instead of finishing');
    assert.ok(received <= WORKER_OUTPUT_LIMIT + WORKER_OUTPUT_PIECE, `received ${received}`);
    // Let everything through: the worker goes on and finishes, never more than the limit ahead.
    release!();
    gate = Promise.resolve();
    await done;
    await relay.drained();
    assert.equal(sent, total);
    assert.ok(maxOutstanding <= WORKER_OUTPUT_LIMIT + WORKER_OUTPUT_PIECE, `at most ${maxOutstanding} ahead`);
  } finally {
    await worker.terminate();
  }
});
