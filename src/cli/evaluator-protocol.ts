/** What the daemon's thread and an evaluator worker (evaluator-worker.ts) say to each other. */

export interface EvaluatorWorkerData {
  flow: Int32Array;
}

/** Daemon → worker: the one command this worker evaluates. */
export interface EvaluateRequest {
  t: 'evaluate';
  command: string;
}

/** Worker → daemon, besides output pieces: started, and finished (0 for a value, -1 for a throw). */
export type EvaluatorOutbound = { t: 'ready' } | { t: 'done'; status: 0 | -1 };
