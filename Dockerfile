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
RUN npm run generate && npm run build && npm prune --omit=dev

# Runtime stage: only what runs, as an unprivileged user.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/prisma ./prisma
COPY --chown=node:node package.json ./
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations are idempotent and serialized by an advisory lock, so every replica may run them.
# The heap flags are npm start's (README, Performance): V8 collects before the process grows past ~200 MB.
CMD ["sh", "-c", "node dist/database/migrate.js && exec node --max-old-space-size=256 --max-semi-space-size=4 dist/main.js"]
