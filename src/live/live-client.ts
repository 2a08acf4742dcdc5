import type { Writable } from 'node:stream';

const CLOSE_GRACE_MS = 1000;

/**
 * One live-stream listener. Frames are written without waiting; what the socket has not taken
 * yet stays in the response's buffer, and a client whose buffer grows past `maxBufferedBytes`
 * (stalled, or slower than the events) is cut off, so it never holds up the others or fan-out.
 */
export class LiveClient {
  private dropped = false;

  constructor(
    private readonly response: Writable,
    private readonly maxBufferedBytes: number,
    private readonly onDrop: () => void,
  ) {}

  /** Writes a frame; false when the client is gone or was just dropped. */
  send(frame: string): boolean {
    if (this.dropped || this.response.destroyed) return false;
    if (this.response.writableLength + Buffer.byteLength(frame) > this.maxBufferedBytes) {
      this.dropped = true;
      this.response.destroy();
      this.onDrop();
      return false;
    }
    this.response.write(frame);
    return true;
  }

  /** Ends the stream; a client that does not take the end within a second is cut off. */
  close(): void {
    if (this.response.destroyed) return;
    this.response.end();
    setTimeout(() => this.response.destroy(), CLOSE_GRACE_MS).unref();
  }
}
