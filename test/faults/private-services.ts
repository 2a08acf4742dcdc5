import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * The fault suite's own Postgres cluster, Redis and Mosquitto, on ports of their own (below
 * Linux's ephemeral range) and with data under /tmp: it stops and kills them at will without
 * touching the machine's services, which other test runs use. Postgres runs as the `postgres`
 * OS user (it refuses root), so the suite runs as root, as CI does.
 */
export interface PrivateServices {
  root: string;
  postgres: { bin: string; data: string; port: number; log: string };
  redis: { port: number; dir: string };
  mosquitto: { port: number; conf: string; pidFile: string };
}

export function postgresAdminUrl(services: PrivateServices): string {
  return `postgresql://postgres@127.0.0.1:${services.postgres.port}/postgres`;
}

export async function startPrivateServices(): Promise<PrivateServices> {
  const root = `/tmp/lpwan-faults-${process.pid}`;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const [pgPort, redisPort, mqttPort] = [await freeLowPort(15_432), await freeLowPort(16_379), await freeLowPort(11_883)];
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  const services: PrivateServices = {
    root,
    postgres: { bin: `/usr/lib/postgresql/${versions[0]}/bin`, data: join(root, 'pg'), port: pgPort, log: join(root, 'pg.log') },
    redis: { port: redisPort, dir: join(root, 'redis') },
    // Inside its own directory: Mosquitto writes its pid file after dropping to its user.
    mosquitto: { port: mqttPort, conf: join(root, 'mosquitto.conf'), pidFile: join(root, 'mosquitto', 'mosquitto.pid') },
  };
  try {
    startAll(services);
  } catch (error) {
    stopPrivateServices(services);
    throw error;
  }
  return services;
}

function startAll(services: PrivateServices): void {
  const { root } = services;
  // Postgres owns its data directory and its log; the rest of the tree stays root's.
  mkdirSync(services.postgres.data);
  writeFileSync(services.postgres.log, '');
  chownSync(services.postgres.data, ...postgresIds());
  chownSync(services.postgres.log, ...postgresIds());
  asPostgres(services, 'initdb', '-D', services.postgres.data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions');
  startPostgres(services);

  mkdirSync(services.redis.dir);
  startRedis(services);

  const mqttData = join(root, 'mosquitto');
  mkdirSync(mqttData);
  // Mosquitto started by root drops to its own user: that user keeps its persistence file.
  try {
    chownSync(mqttData, Number(execFileSync('id', ['-u', 'mosquitto']).toString()), Number(execFileSync('id', ['-g', 'mosquitto']).toString()));
  } catch {
    // no mosquitto user: it stays root
  }
  // No cap on the queue of a subscriber that is behind (Mosquitto's default drops QoS 1 messages
  // beyond 1000): the suite's own subscriber lags during a replay burst, and what the suite
  // checks is what the bridge hands to the broker.
  writeFileSync(
    services.mosquitto.conf,
    [`listener ${services.mosquitto.port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${mqttData}/`, 'max_queued_messages 0', `pid_file ${services.mosquitto.pidFile}`, 'log_dest none', ''].join('\n'),
  );
  startMosquitto(services);
}

export function stopPrivateServices(services: PrivateServices): void {
  stopMosquitto(services);
  stopRedis(services);
  // A server that did not answer the shutdown (or half-started) goes by its own pid file.
  try {
    process.kill(Number(readFileSync(join(services.redis.dir, 'redis.pid'), 'utf8')), 'SIGKILL');
  } catch {
    // gone
  }
  try {
    stopPostgres(services, 'immediate');
  } catch {
    // already stopped
  }
  rmSync(services.root, { recursive: true, force: true });
}

export function startPostgres(services: PrivateServices): void {
  const { data, port, log } = services.postgres;
  const options = `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  asPostgres(services, 'pg_ctl', '-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start');
}

/** `immediate`: as a crash does (no shutdown checkpoint, connections cut); `fast`: a clean stop. */
export function stopPostgres(services: PrivateServices, mode: 'immediate' | 'fast'): void {
  asPostgres(services, 'pg_ctl', '-D', services.postgres.data, '-m', mode, '-w', 'stop');
}

export function startRedis(services: PrivateServices): void {
  const { port, dir } = services.redis;
  execFileSync('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'yes', '--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')]);
  waitUntil(() => execFileSync('redis-cli', ['-p', String(port), 'ping']).toString().trim() === 'PONG', 'redis');
}

/** Without saving: what was queued is gone, as after a crash. */
export function stopRedis(services: PrivateServices): void {
  try {
    execFileSync('redis-cli', ['-p', String(services.redis.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
  } catch {
    // already stopped (redis-cli also fails when the server closes the connection)
  }
}

export function startMosquitto(services: PrivateServices): void {
  execFileSync('mosquitto', ['-d', '-c', services.mosquitto.conf]);
  waitUntil(() => readFileSync(services.mosquitto.pidFile, 'utf8').trim() !== '', 'mosquitto');
}

export function stopMosquitto(services: PrivateServices): void {
  let pid: number;
  try {
    pid = Number(readFileSync(services.mosquitto.pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  waitUntil(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 'mosquitto to stop');
  rmSync(services.mosquitto.pidFile, { force: true });
}

function asPostgres(services: PrivateServices, program: string, ...args: string[]): void {
  execFileSync('runuser', ['-u', 'postgres', '--', join(services.postgres.bin, program), ...args], { stdio: 'pipe', cwd: '/tmp' });
}

function postgresIds(): [number, number] {
  return [Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString())];
}

function waitUntil(check: () => boolean, what: string): void {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    execFileSync('sleep', ['0.1']);
  }
}

/** A port from `from` on that nothing listens on, below the ephemeral range (see freePort). */
async function freeLowPort(from: number): Promise<number> {
  for (let port = from + (process.pid % 500) * 2; port < 32_768; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port from ${from}`);
}
