import { MessageChannel, type MessagePort } from 'node:worker_threads';

/**
 * Freeing the memory of an ArrayBuffer now rather than at the next garbage collection, by
 * detaching it: every view of it then has length 0, and V8 frees its backing store at once (see
 * edge/release.ts for why bulk transfers want this, and what it measured).
 */

type Detach = (ab: ArrayBuffer) => void;

const transfer = (ArrayBuffer.prototype as { transfer?: (this: ArrayBuffer, n: number) => ArrayBuffer })
  .transfer;

/** Detaches with `ArrayBuffer.prototype.transfer(0)`; undefined where V8 lacks it (Node 20). */
export const detachByTransfer: Detach | undefined =
  typeof transfer === 'function' ? (ab) => void transfer.call(ab, 0) : undefined;

let closedPort: MessagePort | undefined;

/**
 * Detaches by posting to a closed MessagePort (any Node line): the transfer list is detached
 * as the message is made, and the message is dropped with its backing stores (the HTML
 * structured-clone steps, which Node follows for a closed port).
 */
export const detachByClosedPort: Detach = (ab) => {
  if (!closedPort) {
    closedPort = new MessageChannel().port1;
    closedPort.close();
  }
  closedPort.postMessage(null, [ab]);
};

const detach: Detach = detachByTransfer ?? detachByClosedPort;

/** Smaller buffers are not worth a detach (and those under 4 KiB may share Node's pool). */
export const FREE_MIN = 16 * 1024;

/**
 * True when `b` is the whole of its own ArrayBuffer and at least FREE_MIN bytes: the only
 * buffers worth freeing with `freeArrayBuffer`, and the only ones that may be (a view of part of
 * one says nothing about the rest).
 */
export function wholeAndLarge(b: Buffer): boolean {
  return b.length >= FREE_MIN && b.byteOffset === 0 && b.length === b.buffer.byteLength;
}

/** Bytes freed so far by `freeArrayBuffer`, in this process (for tests and curious operators). */
export let freedBytes = 0;

/**
 * Frees `ab` now. Only for memory nothing will read again (what still views it sees zero
 * bytes); one that cannot be detached (a SharedArrayBuffer, or marked so by its owner) is left
 * to the collector.
 */
export function freeArrayBuffer(ab: ArrayBufferLike): void {
  const n = ab.byteLength;
  try {
    detach(ab as ArrayBuffer);
    freedBytes += n;
  } catch {
    // Not detachable: freed by the collector, as before.
  }
}
