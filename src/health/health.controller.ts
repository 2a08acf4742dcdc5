import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { ApiDoc } from '../docs/api-doc.decorator';
import { PrismaService } from '../database/prisma.service';
import { RedisService } from '../database/redis.service';
import { MqttPublisher } from '../fanout/mqtt-publisher.service';
import { JournalService } from '../journal/journal.service';

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
    private readonly journal: JournalService,
  ) {}

  @Get('live')
  @ApiDoc({ summary: 'Liveness: the process answers', example: { status: 'ok' } })
  live() {
    return { status: 'ok' };
  }

  /**
   * Ready when Postgres and Redis answer and, in a process that publishes, the broker is connected;
   * and while Postgres is down, as long as this process's journal takes the load (SPEC §3).
   */
  @Get('ready')
  @ApiDoc({
    summary: 'Readiness: Postgres (or the journal while Postgres is down), Redis and (where it publishes) the broker; 503 when one is down',
    example: { status: 'ok', checks: { postgres: 'up', redis: 'up', mqtt: 'up', journal: 'idle' }, journal: { depth: 0, bytes: 0, oldestAgeSeconds: 0 } },
  })
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
    const journal = this.journal.state;
    const { depth, bytes, oldestAppendedAt } = this.journal.stats;
    const body = {
      checks: { postgres, redis, mqtt, journal },
      journal: { depth, bytes, oldestAgeSeconds: oldestAppendedAt === null ? 0 : Math.round((Date.now() - oldestAppendedAt) / 1000) },
    };
    const journalTakesLoad = journal === 'idle' || journal === 'buffering';
    if (redis === 'down' || mqtt === 'down' || (postgres === 'down' && !journalTakesLoad)) {
      throw new ServiceUnavailableException({ message: 'not ready', ...body });
    }
    return { status: postgres === 'up' ? 'ok' : 'degraded', ...body };
  }
}
