/**
 * Runs a task one at a time: asked for while it runs, it runs once more right after (any number of
 * asks in between fold into that one run), and never again once closed. For the reconcile loops
 * that follow connections as they change.
 */
export class SerialRunner {
  private running?: Promise<void>;
  private again = false;
  private isClosed = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (error: Error) => void,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  soon(): void {
    if (this.isClosed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.task()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.soon();
        }
      });
  }

  /** No run starts any more; resolves once the current one is over. */
  async close(): Promise<void> {
    this.isClosed = true;
    await this.running;
  }
}
