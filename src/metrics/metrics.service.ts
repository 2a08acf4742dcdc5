import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every Prometheus series of the bridge; services record into it, GET /metrics reads it. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly eventsIngested = new Counter({
    name: 'lpwan_events_ingested_total',
    help: 'Events stored, by network and type (copies merged into an earlier event are not counted)',
    labelNames: ['network', 'type'] as const,
    registers: [this.registry],
  });

  readonly duplicatesMerged = new Counter({
    name: 'lpwan_event_duplicates_total',
    help: 'Copies of an already stored event (multi-buy, Sigfox base stations, stream + webhook), merged into it',
    labelNames: ['network'] as const,
    registers: [this.registry],
  });

  readonly ingestErrors = new Counter({
    name: 'lpwan_http_errors_total',
    help: 'HTTP requests answered with an error, by route kind (ingest, api) and status',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });

  readonly mqttPublishLatency = new Histogram({
    name: 'lpwan_mqtt_publish_delay_seconds',
    help: 'From the bridge receiving an event to the broker acknowledging its publication',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly mqttPublishFailures = new Counter({
    name: 'lpwan_mqtt_publish_failures_total',
    help: 'MQTT publications that failed and will be retried',
    registers: [this.registry],
  });

  readonly webhookDeliveryLatency = new Histogram({
    name: 'lpwan_webhook_delivery_seconds',
    help: 'Duration of webhook delivery attempts',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly webhookDeliveryFailures = new Counter({
    name: 'lpwan_webhook_delivery_failures_total',
    help: 'Webhook delivery attempts that failed (non-2xx, timeout, refused address)',
    registers: [this.registry],
  });

  readonly codecCalls = new Counter({
    name: 'lpwan_codec_calls_total',
    help: 'Payload codec calls, by codec, function (decodeUplink, encodeDownlink) and outcome (ok, error)',
    labelNames: ['codec', 'function', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly codecCallSeconds = new Histogram({
    name: 'lpwan_codec_call_seconds',
    help: 'Time a payload codec call spent in the sandbox, by codec and function',
    labelNames: ['codec', 'function'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  readonly fanoutWaiting = new Gauge({
    name: 'lpwan_fanout_waiting',
    help: 'Uplinks this process holds in memory through their dedup window (at most FANOUT_WAITING_MAX)',
    registers: [this.registry],
  });

  readonly fanoutWaitingOverflow = new Counter({
    name: 'lpwan_fanout_waiting_overflow_total',
    help: 'Uplinks that waited out their dedup window in the fan-out queue because FANOUT_WAITING_MAX were in memory',
    registers: [this.registry],
  });

  readonly liveClients = new Gauge({
    name: 'lpwan_live_clients',
    help: 'Open GET /api/events/live streams of this process',
    registers: [this.registry],
  });

  readonly liveClientsDropped = new Counter({
    name: 'lpwan_live_clients_dropped_total',
    help: 'Live-stream clients disconnected for falling LIVE_CLIENT_BUFFER_BYTES behind',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'lpwan_process_' });
  }
}
