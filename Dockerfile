# syntax=docker/dockerfile:1
# Build stage: dependencies, Prisma client, compiled TypeScript.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The lock file lacks other platforms' optional packages (see .ci/run), which npm ci refuses.
RUN npm install --no-audit --no-fund
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json nest-cli.json .swcrc ./
COPY scripts ./scripts
COPY src ./src
RUN npm run generate && npm run build
# The runtime tree: production dependencies only (no Prisma CLI, Studio, TypeScript, Nest CLI),
# pruned of maps and type declarations, with dist/ and the migrations. `npm run image:size`
# runs this same script without Docker and reports its size.
RUN node scripts/runtime-tree.js /runtime

# Runtime stage: only what runs, owned by root and run as an unprivileged user who cannot
# change it; ./data (the api's journal) is the one place it writes.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /runtime ./
RUN install -d -o node -g node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations are idempotent and serialized by an advisory lock, so every replica may run them.
# With Postgres unreachable (exit 75) an api starts all the same: its journal takes the load.
# The node flags are npm start's (README, Performance): V8 collects before the process grows past ~200 MB,
# with as many GC helper threads as there are CPUs to spare.
CMD ["sh", "-c", "node dist/database/migrate.js; s=$?; [ $s -eq 0 ] || { [ $s -eq 75 ] && [ \"$BRIDGE_ROLE\" = api ]; } || exit $s; exec node --max-old-space-size=256 --max-semi-space-size=8 --v8-pool-size=0 dist/main.js"]
