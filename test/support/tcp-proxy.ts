import { createServer, Server, Socket } from 'node:net';

/**
 * A TCP relay between a bridge and a real service, to take the service away the way a network
 * or a crash does: `refuse()` closes every connection and refuses new ones, `stall()` lets
 * nothing through any more (a hung server), `restore()` drops what was stalled and relays again.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private mode: 'relay' | 'stall' = 'relay';

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(port, target);
    await proxy.listen();
    return proxy;
  }

  /** The URL with its host and port replaced by this proxy's. */
  urlFor(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  async refuse(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Open connections stay open and carry nothing more; new ones are accepted and carry nothing. */
  async stall(): Promise<void> {
    this.mode = 'stall';
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
    if (!this.server) await this.listen();
  }

  async restore(): Promise<void> {
    this.dropAll();
    this.mode = 'relay';
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.refuse();
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.mode === 'stall') return;
      const upstream = new Socket();
      this.sockets.add(upstream);
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.connect(this.target.port, this.target.host, () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    (this as { port: number }).port = typeof address === 'object' && address ? address.port : this.port;
    this.server = server;
  }

  private dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
