import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { AdminModule } from './admin/queue-dashboard';
import { ApiKeyGuard } from './auth/api-key.guard';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { parseSettings } from './config/settings';
import { CodecsModule } from './codecs/codecs.module';
import { ConnectionsModule } from './connections/connections.module';
import { ConsoleModule } from './console/console.module';
import { DatabaseModule } from './database/database.module';
import { DocsModule } from './docs/docs.module';
import { DevicesModule } from './devices/devices.module';
import { DownlinksModule } from './downlinks/downlinks.module';
import { EventsModule } from './events/events.module';
import { FanoutModule } from './fanout/fanout.module';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { MetricsModule } from './metrics/metrics.module';
import { ChirpstackModule } from './networks/chirpstack/chirpstack.module';
import { HeliumModule } from './networks/helium/helium.module';
import { NetworkRegistryModule } from './networks/network-registry';
import { SigfoxModule } from './networks/sigfox/sigfox.module';
import { TtsModule } from './networks/tts/tts.module';

/** Headers and query parameters that carry credentials never reach the logs. */
const REDACTED = ['req.headers.authorization', 'req.headers["x-bridge-token"]', 'req.headers["x-downlink-apikey"]', 'req.headers.cookie'];

/** Development logs are for a terminal (pino-pretty, a dev dependency, when installed); others are JSON lines. */
function prettyTransport(nodeEnv: string) {
  if (nodeEnv !== 'development') return undefined;
  try {
    return { target: require.resolve('pino-pretty'), options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } };
  } catch {
    return undefined;
  }
}

@Module({})
export class AppModule {
  /** `env` overrides the environment (tests run several bridges with different settings). */
  static forRoot(env: Record<string, string | undefined> = {}): DynamicModule {
    const settings = parseSettings({ ...process.env, ...env });
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, validate: () => settings }),
        LoggerModule.forRoot({
          pinoHttp: {
            level: settings.LOG_LEVEL,
            transport: prettyTransport(settings.NODE_ENV),
            redact: { paths: REDACTED, censor: '[redacted]' },
            serializers: {
              req: (req: { id: unknown; method: string; url: string }) => ({
                id: req.id,
                method: req.method,
                url: req.url.replace(/([?&]token=)[^&]*/g, '$1[redacted]'),
              }),
            },
            autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') },
          },
        }),
        DatabaseModule,
        MetricsModule,
        NetworkRegistryModule,
        ConnectionsModule,
        EventsModule,
        DevicesModule,
        FanoutModule,
        IngestModule,
        CodecsModule,
        DownlinksModule,
        HeliumModule,
        SigfoxModule,
        TtsModule,
        ChirpstackModule,
        HealthModule,
        DocsModule,
        AdminModule,
        ConsoleModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
      ],
    };
  }
}
