#!/usr/bin/env node
// Assembles what the image's runtime stage holds, without Docker: production dependencies only
// (no Prisma CLI or Studio, TypeScript, Nest CLI, test tools), the compiled dist/ (with the
// generated Prisma client and the console) and the migrations; then reports its size.
//   node scripts/runtime-tree.js [out-dir]     (npm run image:size: a temporary directory)
// The Dockerfile runs this same script, so what is measured here is what the image carries.
const { execFileSync } = require('node:child_process');
const { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const out = resolve(process.argv[2] ?? mkdtempSync(join(tmpdir(), 'lpwan-runtime-')));
if (!existsSync(join(root, 'dist', 'main.js'))) {
  console.error('dist/main.js is missing: run `npm run build` first');
  process.exit(1);
}

mkdirSync(out, { recursive: true });
for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(out, file));
// `npm ci` refuses this lock file (see .ci/run); `install` follows it. `--omit=optional` leaves out
// what the lock file marks devOptional: the Prisma CLI, Studio and TypeScript, which
// @prisma/client names as optional peers. No install scripts: nothing here needs building.
execFileSync('npm', ['install', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: out, stdio: 'inherit' });
rmSync(join(out, 'package-lock.json'));
prune(join(out, 'node_modules'));
rmSync(join(out, 'dist'), { recursive: true, force: true });
cpSync(join(root, 'dist'), join(out, 'dist'), { recursive: true, filter: (path) => !path.endsWith('.map') && !path.endsWith('.tsbuildinfo') });
cpSync(join(root, 'prisma', 'migrations'), join(out, 'prisma', 'migrations'), { recursive: true });

// On disk, as `du` counts (blocks); the files themselves are smaller.
const diskMB = (path) => Math.round(Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]) / 102.4) / 10;
const report = { dir: out, nodeModulesMB: diskMB(join(out, 'node_modules')), totalMB: diskMB(out), targetNodeModulesMB: 150 };
console.log(`runtime tree in ${out}: node_modules ${report.nodeModulesMB} MB on disk (target ≤ ${report.targetNodeModulesMB} MB), all ${report.totalMB} MB`);
console.log(JSON.stringify(report));

/**
 * What no running program reads: source maps, type declarations, docs, and the Prisma query
 * compilers other than the Postgres one built for size (the one the generated client loads).
 */
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) prune(path);
    else if (/\.(map|d\.ts|d\.mts|d\.cts|md|markdown)$/i.test(entry.name)) rmSync(path);
    else if (dir.endsWith(join('@prisma', 'client', 'runtime')) && /^query_compiler_(fast_bg\.|small_bg\.(?!postgresql\.))/.test(entry.name)) rmSync(path);
  }
}

