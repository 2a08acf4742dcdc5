import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { createApp } from './app';
import { parseSettings } from './config/settings';

async function main(): Promise<void> {
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
}

void main();
