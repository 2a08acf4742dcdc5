import { isPostgresUnavailable, isUnavailable } from '../../src/common/unavailable';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('isUnavailable: what the caller should retry (503; ingest journals it)', () => {
  it('retries a statement Postgres aborted for a deadlock or a serialization failure, which wrote nothing', () => {
    expect(isUnavailable(pgError('40P01', 'deadlock detected'))).toBe(true);
    expect(isUnavailable(pgError('40001', 'could not serialize access due to concurrent update'))).toBe(true);
    // Postgres itself answered: the fallbacks for an unreachable Postgres (copies on disk) do not apply.
    expect(isPostgresUnavailable(pgError('40P01', 'deadlock detected'))).toBe(false);
  });

  it('retries an unreachable Postgres or Redis', () => {
    expect(isUnavailable(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
    expect(isUnavailable(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isUnavailable(new Error('Connection is closed.'))).toBe(true);
  });

  it('does not retry what the row itself makes Postgres refuse, or a bug', () => {
    expect(isUnavailable(pgError('23503', 'insert or update on table "events" violates foreign key constraint'))).toBe(false);
    expect(isUnavailable(pgError('22P05', 'unsupported Unicode escape sequence'))).toBe(false);
    expect(isUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
  });
});
