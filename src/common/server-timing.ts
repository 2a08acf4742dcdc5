/**
 * The durations of a request's steps, answered in its `Server-Timing` header (W3C Server Timing):
 * where a slow answer's time went, seen from the caller (curl -v, the bench).
 */
export class ServerTiming {
  private readonly entries: string[] = [];

  /** Times `work` from now until it settles; steps may overlap. */
  async measure<T>(step: string, work: Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work;
    } finally {
      this.entries.push(`${step};dur=${(performance.now() - started).toFixed(1)}`);
    }
  }

  /** `totalMs`: the whole request, as the server saw it. */
  header(totalMs: number): string {
    return [...this.entries, `total;dur=${totalMs.toFixed(1)}`].join(', ');
  }
}
