import type { SftpSession } from '../../src/sftp/session.js';

/** Counts a session's WRITEs in flight while `run` goes on; resolves with the most at once. */
export async function mostWritesInFlight(session: SftpSession, run: () => Promise<void>): Promise<number> {
  const write = session.write.bind(session);
  let inflight = 0;
  let most = 0;
  session.write = async (...args: Parameters<typeof write>) => {
    most = Math.max(most, ++inflight);
    try {
      return await write(...args);
    } finally {
      inflight--;
    }
  };
  try {
    await run();
  } finally {
    session.write = write;
  }
  return most;
}
