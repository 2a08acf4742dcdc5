#!/usr/bin/env node
/**
 * Compares builds of the bridge on the bench's full-speed Helium load, for a change too small for
 * two `npm run bench` runs to tell apart (they differ by up to 25 % on a noisy machine):
 *
 *   git worktree add ../before HEAD~1 && (cd ../before && npm ci && npm run generate && npm run build)
 *   npm run build && node bench/compare.js ../before .
 *
 * Each round runs the bare pipeline and then every build (the order reversed every other round),
 * each on a fresh database that its own migrations create, and gives every pipeline a
 * BENCH_WARMUP_SECONDS warm-up, then a BENCH_BURST_SECONDS burst. It prints each build's median
 * accepted/s, its CPU per uplink and its ratio to the same round's bare pipeline (BENCH_ROUNDS, default 5).
 */
const { resolve } = require('node:path');
const lib = require('./lib');

const { median } = lib;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BURST_SECONDS = Number(process.env.BENCH_BURST_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const builds = process.argv.slice(2).map((dir) => resolve(dir));

/** A warm-up, then one measured burst: accepted/s and the process's CPU per accepted uplink. */
async function burst(child, target) {
  await lib.warmUp(() => lib.measureHelium(target, WARMUP_SECONDS));
  const before = lib.cpuMs(child.pid);
  const result = await lib.measureHelium(target, BURST_SECONDS);
  if (result.errors || result.undelivered) throw new Error(`${result.errors} failed requests, ${result.undelivered} undelivered events`);
  return { rate: result.acceptedPerSecond, cpuUs: ((lib.cpuMs(child.pid) - before) * 1000) / result.accepted };
}

async function measure(build) {
  if (build === 'bare') {
    await lib.resetDatabase();
    const bare = await lib.startBare();
    try {
      return await burst(bare, bare.target);
    } finally {
      await bare.stop();
    }
  }
  const stack = await lib.startStack({ root: build });
  try {
    return await burst(stack.processes[0], lib.bridgeTarget(stack.tokens));
  } finally {
    await stack.stop();
  }
}

async function main() {
  if (builds.length === 0) throw new Error('usage: node bench/compare.js <checkout with dist/> [<checkout> …]');
  const pipelines = ['bare', ...builds];
  const results = new Map(pipelines.map((pipeline) => [pipeline, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const pipeline of round % 2 ? [...pipelines].reverse() : pipelines) {
        const result = await measure(pipeline);
        results.get(pipeline).push(result);
        console.log(`round ${round + 1}/${ROUNDS} ${pipeline}: ${Math.round(result.rate)} uplinks/s, ${Math.round(result.cpuUs)} µs of CPU per uplink`);
      }
    }
  } finally {
    await lib.dropDatabase();
  }
  const bareRates = results.get('bare').map((result) => result.rate);
  for (const [pipeline, runs] of results) {
    const ratios = runs.map((result, round) => result.rate / bareRates[round]);
    console.log(
      `${pipeline}: median ${Math.round(median(runs.map((r) => r.rate)))} uplinks/s, ${Math.round(median(runs.map((r) => r.cpuUs)))} µs per uplink; ` +
        `ratio to bare ${median(ratios).toFixed(3)} (rounds ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
