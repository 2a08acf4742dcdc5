import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { createApp } from './app';
import { useLiftoffOnly } from './common/wasm-tiers';
import { parseSettings } from './config/settings';

async function main(): Promise<void> {
  // Prisma 7's query compiler is WebAssembly, compiled on the first query: V8's optimizing tier
  // for it holds ~50 MB of memory, and the hot path does not go through Prisma (the codec
  // sandbox, which is, keeps it: see wasm-tiers.ts).
  useLiftoffOnly();
  if (existsSync('.env')) process.loadEnvFile('.env');
  let port: number;
  try {
    port = parseSettings(process.env).PORT;
  } catch (error) {
    // One clear line naming the bad setting, and no stack trace.
    console.error((error as Error).message);
    process.exit(1);
  }
  const app = await createApp();
  await app.listen({ port, host: '0.0.0.0' });

  // Graceful stop: first stop taking requests (in-flight ones finish), then let queue workers
  // finish their jobs, close TTS streams and release leases (the modules' destroy hooks).
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const watchdog = setTimeout(() => process.exit(1), 30_000).unref();
    await app.getHttpAdapter().getInstance().close();
    await app.close();
    clearTimeout(watchdog);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

void main();
