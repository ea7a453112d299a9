/** Helpers the measures share. */
import type { Pair } from '../contestants/index.js';
import type { ServerHandle } from '../contestants/types.js';
import type { BenchContext } from '../lib/context.js';

export const MiB = 1 << 20;
export const GiB = 1 << 30;

/** The key exchange and cipher used where the measure is not about them. */
export const DEFAULT_KEX = 'curve25519-sha256';
export const DEFAULT_CIPHER = 'aes128-gcm@openssh.com';

/**
 * Runs `fn` and returns the server's CPU seconds spent meanwhile. The server is settled before and
 * after (its per-connection work finished), so the difference holds exactly this operation.
 */
export async function withServerCpu<T>(
  server: ServerHandle,
  fn: () => Promise<T>,
): Promise<{ result: T; serverCpuS: number }> {
  await server.settle();
  const c0 = await server.cpuSeconds();
  const result = await fn();
  await server.settle();
  const c1 = await server.cpuSeconds();
  return { result, serverCpuS: c1 - c0 };
}

/** "3 × 512 MiB" and the like, for the report. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Logs progress on stderr: measure, group, pair, what happened. */
export function progress(ctx: BenchContext, measure: string, group: string, pair: Pair, what: string): void {
  ctx.log(`[${measure}] ${group} ${pair.id}: ${what}`);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
