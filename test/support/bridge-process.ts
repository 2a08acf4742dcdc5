import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * The production build (`dist/main.js`, made by `npm run build`, which `npm test` runs first)
 * as a separate process: for what only a real process shows — roles, logs, signals, start-up errors.
 */
export class BridgeProcess {
  readonly output: string[] = [];
  private exit?: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** `options.cwd`: where it looks for `.env`; `options.root`: the tree whose `dist/main.js` runs. */
  static spawn(env: Record<string, string>, options: { cwd?: string; root?: string; uid?: number; gid?: number } = {}): BridgeProcess {
    const { root = join(__dirname, '..', '..'), ...spawnOptions } = options;
    const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...spawnOptions,
    });
    return new BridgeProcess(child, `http://127.0.0.1:${env.PORT}`);
  }

  async ready(path = '/health/ready', timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(this.url + path)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`process did not become ready; output:\n${this.output.join('')}`);
  }

  exited(): Promise<number | null> {
    return this.exit as Promise<number | null>;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited();
  }
}

// Below Linux's ephemeral range (32768–60999): a port there can be taken by any outgoing
// connection between choosing it and the child listening on it.
let nextPort = 20_000 + (process.pid % 10_000);
export function freePort(): string {
  return String(nextPort++);
}
