import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { rmSync } from 'node:fs';
import { createApp } from '../../src/app';
import { TEST_API_KEY, testSettings } from './env';

/** A bridge listening on a free port of 127.0.0.1, driven over real HTTP like its users drive it. */
export class TestBridge {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly url: string,
    readonly settings: Record<string, string>,
  ) {}

  static async start(overrides: Record<string, string> = {}): Promise<TestBridge> {
    const settings = testSettings(overrides);
    const app = await createApp(settings);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return new TestBridge(app, `http://127.0.0.1:${port}`, settings);
  }

  get topicPrefix(): string {
    return this.settings.MQTT_TOPIC_PREFIX;
  }

  /** A management API call with the API key. */
  api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${TEST_API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Creates a connection and returns it with its one-time ingest token. */
  async createConnection(body: { id: string; network: string; name?: string; settings?: Record<string, unknown> }) {
    const response = await this.api('POST', '/api/connections', { name: body.id, settings: {}, ...body });
    if (response.status !== 201) throw new Error(`create connection: ${response.status} ${await response.text()}`);
    return (await response.json()) as { id: string; ingestToken: string; ingestUrls: Record<string, string> };
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(this.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async stop(): Promise<void> {
    await this.app.close();
    rmSync(this.settings.JOURNAL_DIR, { recursive: true, force: true });
  }
}
