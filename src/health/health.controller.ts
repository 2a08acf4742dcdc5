import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { Public } from '../auth/public.decorator';
import { settleWithin } from '../common/settle-within';
import { ApiDoc } from '../docs/api-doc.decorator';
import { PrismaService } from '../database/prisma.service';
import { RedisService } from '../database/redis.service';
import { MqttPublisher } from '../fanout/mqtt-publisher.service';
import { JournalService } from '../journal/journal.service';

type Check = 'up' | 'down' | 'unused';

const CHECK_TIMEOUT_MS = 2000;

/** Up when the probe answers within the timeout. */
async function probe(answer: Promise<unknown>): Promise<Check> {
  return (await settleWithin(answer, CHECK_TIMEOUT_MS)).kind === 'done' ? 'up' : 'down';
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
    const [postgres, redis] = await Promise.all([probe(this.prisma.pool.query('SELECT 1')), probe(this.redis.client.ping())]);
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
