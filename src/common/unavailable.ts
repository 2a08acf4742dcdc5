/** Postgres cannot be reached (down, restarting, refusing connections, pool exhausted). */
export function isPostgresUnavailable(error: unknown): boolean {
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|timeout exceeded when trying to connect|Connection terminated|P1001|P1002|P1017|P2024|57P0[123]|53300|^08|Can't reach database|DriverAdapterError|Client has encountered a connection error/i.test(
    describe(error),
  );
}

/**
 * Postgres or Redis cannot be reached, or Postgres aborted the statement for a deadlock or a
 * serialization failure (nothing of it was written): the caller should retry, so 503 rather than
 * 500, and ingest journals the event instead of refusing it.
 */
export function isUnavailable(error: unknown): boolean {
  return isPostgresUnavailable(error) || /^(40P01|40001) |Connection is closed/i.test(describe(error));
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return `${typeof code === 'string' ? code : ''} ${(error as Error)?.message ?? ''}`;
}
