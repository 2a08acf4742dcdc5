import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Job, Worker } from 'bullmq';
import { PeriodicTask, workerOptions } from '../../common/job-queues';
import { SecretBox } from '../../common/secret-box';
import { Settings } from '../../config/settings';
import { PrismaService } from '../../database/prisma.service';
import { toNormalizedEvent } from '../../events/event-store.service';
import type { NormalizedEvent } from '../../events/normalized-event';
import { Webhook, WebhookDelivery } from '../../generated/prisma/client';
import { MetricsService } from '../../metrics/metrics.service';
import { postJson } from './webhook-http';
import { DeliveryJob, WEBHOOKS_QUEUE, WebhookQueue } from './webhook-queue.service';
import { signatureHeaders, signingSecrets, WebhookSecrets } from './webhook-signature';

const TIMEOUT_MS = 10_000;
const CONCURRENCY = 32;
const MAX_RETRY_DELAY_MS = 3600_000;
/**
 * A claimed delivery's next_attempt_at is pushed this far ahead while it is being sent, so that
 * neither the sweeper nor another process sends it again; if this process dies mid-send, the
 * sweeper takes it up once the claim and the grace period are over.
 */
const CLAIM_MS = 60_000;
/** A job may start this much before its next_attempt_at (clocks of different hosts). */
const CLOCK_SLACK_MS = 1000;
const SWEEP_INTERVAL_MS = 5000;
/** A pending delivery this much past its next_attempt_at has lost its job. */
const SWEEP_GRACE_MS = 30_000;
const SWEEP_BATCH = 500;

/** The delay before retry number `attempts` (1 after the first failure): base·2^(n-1), capped at 1 h, ±20 % jitter. */
export function retryDelayMs(attempts: number, baseMs: number, random = Math.random()): number {
  const delay = Math.min(baseMs * 2 ** Math.min(attempts - 1, 30), MAX_RETRY_DELAY_MS);
  return Math.round(delay * (0.8 + 0.4 * random));
}

type Outcome = { statusCode: number; error: string | null } | { statusCode: null; error: string };

/** Worker role: sends queued deliveries, schedules their retries, and re-queues deliveries whose job was lost. */
@Injectable()
export class WebhookWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookWorker.name);
  private worker?: Worker<DeliveryJob>;
  private sweeper?: PeriodicTask;

  constructor(
    private readonly config: ConfigService<Settings, true>,
    private readonly prisma: PrismaService,
    private readonly secrets: SecretBox,
    private readonly queue: WebhookQueue,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.get('BRIDGE_ROLE', { infer: true }) === 'api') return;
    this.worker = new Worker<DeliveryJob>(WEBHOOKS_QUEUE, (job) => this.deliver(job), {
      ...workerOptions(this.config),
      concurrency: CONCURRENCY,
    });
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.worker.on('failed', (job, error) => this.logger.debug(`delivery ${job?.data.deliveryId} failed: ${error.message}`));
    this.sweeper = new PeriodicTask('webhook sweep', SWEEP_INTERVAL_MS, () => this.sweep(), this.logger).start();
  }

  private async deliver(job: Job<DeliveryJob>): Promise<void> {
    const { deliveryId, eventTime } = job.data;
    // By its partition key, one partition answers; a job of an older version has only the id: every week is searched.
    const delivery = eventTime
      ? await this.prisma.webhookDelivery.findUnique({ where: { id_eventTime: { id: deliveryId, eventTime: new Date(eventTime) } }, include: { webhook: true } })
      : await this.prisma.webhookDelivery.findFirst({ where: { id: deliveryId }, include: { webhook: true } });
    // Gone, settled, already attempted, or paused: nothing to do (reactivation lets the sweeper resume it).
    if (!delivery || delivery.status !== 'pending' || delivery.attempts !== job.data.attempt || !delivery.webhook.active) return;
    if (!(await this.claim(delivery))) return;
    const event = await this.prisma.event.findUnique({ where: { id_time: { id: delivery.eventId, time: delivery.eventTime } } });
    const outcome: Outcome = event
      ? await this.send(delivery.webhook, toNormalizedEvent(event))
      : { statusCode: null, error: 'the event no longer exists (its device was deleted, or retention dropped it)' };
    if (outcome.error !== null) this.metrics.webhookDeliveryFailures.inc();
    await this.record(delivery, outcome, event !== null);
  }

  private async claim(delivery: WebhookDelivery): Promise<boolean> {
    const now = Date.now();
    const { count } = await this.prisma.webhookDelivery.updateMany({
      where: { id: delivery.id, eventTime: delivery.eventTime, status: 'pending', attempts: delivery.attempts, nextAttemptAt: { lte: new Date(now + CLOCK_SLACK_MS) } },
      data: { nextAttemptAt: new Date(now + CLAIM_MS) },
    });
    return count === 1;
  }

  private async send(webhook: Webhook, event: NormalizedEvent): Promise<Outcome> {
    const { raw: _raw, ...withoutRaw } = event;
    const body = JSON.stringify(webhook.includeRaw ? event : withoutRaw);
    const secrets = signingSecrets(this.secrets.open(webhook.secret) as unknown as WebhookSecrets);
    const stopTimer = this.metrics.webhookDeliveryLatency.startTimer();
    try {
      const response = await postJson(
        webhook.url,
        body,
        { 'content-type': 'application/json', 'user-agent': 'lpwan-bridge-webhooks', ...signatureHeaders(secrets, event.id, body) },
        { allowPrivate: this.config.get('WEBHOOK_ALLOW_PRIVATE', { infer: true }), timeoutMs: TIMEOUT_MS },
      );
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      stopTimer({ outcome: ok ? 'succeeded' : 'failed' });
      return { statusCode: response.statusCode, error: ok ? null : `HTTP ${response.statusCode}${response.bodyStart ? `: ${response.bodyStart}` : ''}` };
    } catch (error) {
      stopTimer({ outcome: 'failed' });
      return { statusCode: null, error: (error as Error).message || String(error) };
    }
  }

  /** Succeeded on a 2xx; otherwise retried with backoff until the retry window is over, then failed. */
  private async record(delivery: WebhookDelivery, outcome: Outcome, retryable: boolean): Promise<void> {
    const attempts = delivery.attempts + 1;
    const now = Date.now();
    const base = { attempts, lastStatusCode: outcome.statusCode, lastError: outcome.error };
    const where = { id: delivery.id, eventTime: delivery.eventTime, status: 'pending', attempts: delivery.attempts };
    if (outcome.error === null) {
      await this.prisma.webhookDelivery.updateMany({ where, data: { ...base, status: 'succeeded', nextAttemptAt: null, deliveredAt: new Date(now) } });
      return;
    }
    const windowEnd = delivery.createdAt.getTime() + this.config.get('WEBHOOK_RETRY_WINDOW_MS', { infer: true });
    if (!retryable || now >= windowEnd) {
      await this.prisma.webhookDelivery.updateMany({ where, data: { ...base, status: 'failed', nextAttemptAt: null } });
      return;
    }
    const delayMs = retryDelayMs(attempts, this.config.get('WEBHOOK_RETRY_BASE_MS', { infer: true }));
    const { count } = await this.prisma.webhookDelivery.updateMany({ where, data: { ...base, nextAttemptAt: new Date(now + delayMs) } });
    if (count === 1) await this.queue.enqueueOrLeaveToSweeper([{ id: delivery.id, attempts, eventTime: delivery.eventTime, delayMs }]);
  }

  private async sweep(): Promise<void> {
    const lost = await this.prisma.webhookDelivery.findMany({
      where: { status: 'pending', nextAttemptAt: { lt: new Date(Date.now() - SWEEP_GRACE_MS) }, webhook: { active: true } },
      select: { id: true, attempts: true, eventTime: true },
      orderBy: { nextAttemptAt: 'asc' },
      take: SWEEP_BATCH,
    });
    if (lost.length) {
      await this.queue.enqueue(lost);
      this.logger.log(`re-queued ${lost.length} webhook deliveries`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.sweeper?.stop();
    // close() lets in-flight deliveries finish (at most the 10 s timeout).
    await this.worker?.close().catch(() => undefined);
  }
}
