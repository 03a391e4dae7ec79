# syntax=docker/dockerfile:1
# Production image of the chat service (CONTRACT §8: `node dist/main.js`).
#   docker build -t chat-service .
# Stages: deps (all dependencies) -> build (tsc and the web app to dist/) -> runtime (production dependencies + dist/).
# Install scripts are not run (--ignore-scripts): the only packages that have them are the embedded
# PostgreSQL binaries (development only: production requires DATABASE_URL), @swc/core (development
# start only) and @scarf/scarf (usage analytics, refused in package.json's allowScripts).

# Node 24, the maintained LTS line (Node 20's support ended on 2026-04-30). Its AsyncLocalStorage
# runs on AsyncContextFrame, which makes tracing cheaper (BENCHMARKS.md §6c).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The client workspace (SDK and web app): its package.json is part of the lock.
COPY client/package.json ./client/
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
# tsc to dist/, and the web app (Vite) to dist/web-app/, which the service serves at /app.
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The files stay owned by root (read-only to the process); the process runs as the image's `node` user (uid 1000).
USER node
EXPOSE 3000
# Liveness only (the orchestrator checks readiness itself); the slim image has no curl, so Node's fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself is PID 1: it handles SIGTERM (Nest shutdown hooks close HTTP, sockets, pools) and exits.
CMD ["node", "dist/main.js"]
