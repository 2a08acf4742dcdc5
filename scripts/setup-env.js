#!/usr/bin/env node
// `npm run setup`, first step: writes .env for this machine when there is none, with a fresh API
// key and SECRETS_KEY, so that `npm start` runs with nothing to edit. An existing .env is kept.
const { randomBytes } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

const target = resolve(process.argv[2] ?? '.env');
if (existsSync(target)) {
  console.log(`${target} exists: kept as it is.`);
  process.exit(0);
}

const apiKey = `lpk_${randomBytes(24).toString('base64url')}`;
const secretsKey = randomBytes(32).toString('hex');
const template = readFileSync(join(__dirname, '..', '.env.example'), 'utf8');
const env = template
  .replace(/^API_KEYS=.*$/m, `API_KEYS=${apiKey}`)
  .replace(/^SECRETS_KEY=.*$/m, `SECRETS_KEY=${secretsKey}`);
// Readable by this user only: it holds both keys.
writeFileSync(target, env, { mode: 0o600 });

console.log(`Created ${target} (development settings for this machine's Postgres, Redis and Mosquitto).

  API key      ${apiKey}
  SECRETS_KEY  ${secretsKey}

Both are kept in ${target} (API_KEYS and SECRETS_KEY) and shown only this once.
The console (http://localhost:3000/) and the API (Authorization: Bearer <key>) ask for the API key.
Back up SECRETS_KEY now: it encrypts the network credentials and device keys stored in Postgres,
and without it they cannot be read again.
`);
