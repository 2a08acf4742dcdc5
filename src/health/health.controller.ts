import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { ApiDoc } from '../docs/api-doc.decorator';
import { PrismaService } from '../database/prisma.service';
import { RedisService } from '../database/redis.service';
import { MqttPublisher } from '../fanout/mqtt-publisher.service';

type Check = 'up' | 'down' | 'unused';

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms))]);
}

@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly mqtt: MqttPublisher,
  ) {}

  @Get('live')
  @ApiDoc({ summary: 'Liveness: the process answers', example: { status: 'ok' } })
  live() {
    return { status: 'ok' };
  }

  /** Ready when Postgres and Redis answer and, in a process that publishes, the broker is connected. */
  @Get('ready')
  @ApiDoc({ summary: 'Readiness: Postgres, Redis and (where it publishes) the broker; 503 when one is down', example: { status: 'ok', checks: { postgres: 'up', redis: 'up', mqtt: 'up' } } })
  async ready() {
    const [postgres, redis] = await Promise.all([
      withTimeout(this.prisma.pool.query('SELECT 1'), 2000).then(
        (): Check => 'up',
        (): Check => 'down',
      ),
      withTimeout(this.redis.client.ping(), 2000).then(
        (): Check => 'up',
        (): Check => 'down',
      ),
    ]);
    const mqtt: Check = !this.mqtt.started ? 'unused' : this.mqtt.connected ? 'up' : 'down';
    const checks = { postgres, redis, mqtt };
    const ok = Object.values(checks).every((check) => check !== 'down');
    if (!ok) throw new ServiceUnavailableException({ message: 'not ready', checks });
    return { status: 'ok', checks };
  }
}
