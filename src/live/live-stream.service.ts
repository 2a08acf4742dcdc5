import { Injectable, OnModuleDestroy, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { LiveClient } from './live-client';
import { LiveEventBus } from './live-event-bus.service';
import { LiveFilter, matchesLiveFilter } from './live-filter';
import type { LiveEvent } from './live-message';

const HEARTBEAT = ': heartbeat\n\n';

/** The open `GET /api/events/live` streams of this process and what they asked for. */
@Injectable()
export class LiveStream implements OnModuleInit, OnModuleDestroy {
  private readonly clients = new Map<LiveClient, LiveFilter>();
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly bus: LiveEventBus,
    private readonly metrics: MetricsService,
    private readonly http: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    // A stream never ends by itself: end them when the server closes, or closing waits for them.
    this.http.httpAdapter.getInstance<FastifyInstance>().addHook('preClose', (done) => {
      this.closeAll();
      done();
    });
  }

  /** Answers the request with an event stream; 503 (before anything is sent) if Redis cannot be reached. */
  async open(filter: LiveFilter, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await this.bus.subscribe(this.broadcast).catch((error: Error) => {
      throw new ServiceUnavailableException(`live stream unavailable: ${error.message}`);
    });
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx: do not buffer this response.
      'x-accel-buffering': 'no',
    });
    response.flushHeaders();
    const socket = request.raw.socket;
    socket.setNoDelay(true);
    const client = new LiveClient(response, this.config.get('LIVE_CLIENT_BUFFER_BYTES', { infer: true }), () => this.metrics.liveClientsDropped.inc());
    this.clients.set(client, filter);
    this.metrics.liveClients.set(this.clients.size);
    this.heartbeat ??= setInterval(() => this.sendToAll(HEARTBEAT), this.config.get('LIVE_HEARTBEAT_MS', { infer: true }));
    response.on('close', () => {
      // The connection served only this stream: gone with it, so no half-closed socket holds a shutdown.
      socket.destroy();
      this.remove(client);
    });
  }

  private readonly broadcast = (events: LiveEvent[]): void => {
    if (this.clients.size === 0) return;
    for (const event of events) {
      let frame: string | undefined;
      for (const [client, filter] of this.clients) {
        if (!matchesLiveFilter(filter, event)) continue;
        frame ??= `id: ${event.id}\nevent: event\ndata: ${event.json}\n\n`;
        client.send(frame);
      }
    }
  };

  private sendToAll(frame: string): void {
    for (const client of this.clients.keys()) client.send(frame);
  }

  private remove(client: LiveClient): void {
    this.clients.delete(client);
    this.metrics.liveClients.set(this.clients.size);
    if (this.clients.size === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private closeAll(): void {
    for (const client of [...this.clients.keys()]) client.close();
  }

  onModuleDestroy(): void {
    this.closeAll();
    clearInterval(this.heartbeat);
  }
}
