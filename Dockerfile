# syntax=docker/dockerfile:1
# Countersign: one image for both processes. docker-compose.yml runs it twice:
#   api     node dist/api/main.js
#   worker  node dist/worker/main.js
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: all dependencies, compile TypeScript, then drop the dev dependencies -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The lockfile alone first, so source edits do not invalidate the dependency layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# `npm run build` compiles, then bundles the workflow code ahead (dist/workflow-bundle.js), so
# the worker starts without bundling it.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: compiled code and production dependencies, owned by root, run as `node` -------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The worker's prebuilt workflow bundle (the API does not read it).
ENV COUNTERSIGN_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
# Two malloc arenas, not eight per core: about 50 MB less RSS in a busy worker (why, and the
# measurement: MALLOC_ARENA_MAX in settings/settings.ts).
ENV MALLOC_ARENA_MAX=2
# The node image's unprivileged user (uid 1000); it can read the app but not change it.
USER node
EXPOSE 3000
CMD ["node", "dist/api/main.js"]
