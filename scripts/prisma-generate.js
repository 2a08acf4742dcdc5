// `prisma generate` needs no schema engine, but the CLI tries to download one first, which fails
// on machines without access to Prisma's binary host. Point it at a stand-in unless one is set.
const { execFileSync } = require('node:child_process');

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
execFileSync(process.execPath, [require.resolve('prisma/build/index.js'), 'generate'], { stdio: 'inherit', env });
