# syntax=docker/dockerfile:1
# Missive: build with the dev dependencies, run with the production ones only.
# No secret is baked in: ENCRYPTION_KEY, REDIS_URL and TLS files come from
# the environment (docker-compose.yml reads them from .env) or mounted files at run time.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# argon2 is the only dependency with an install script. Its prebuilt linux-x64 glibc binary
# crashed (SIGSEGV on load) on Debian 12 with Node 20, so it is compiled here, for exactly
# this base image, and the image build fails if it does not load. No other script runs,
# except patch-package applying patches/ (our own postinstall, run explicitly in both
# stages; see README, Performance, for the ioredis patch).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npx --no-install patch-package \
 && npm rebuild argon2 --build-from-source \
 && node -e "import('argon2').then((a) => a.hash('image-build-check'))"
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY schemas ./schemas
COPY scripts ./scripts
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# npm (for `npm run keys`) writes its cache and logs only to the /tmp tmpfs, so the root
# filesystem can be read-only.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    NPM_CONFIG_CACHE=/tmp/.npm \
    NPM_CONFIG_LOGS_MAX=0 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
# In the image the code is already compiled: `npm start` and `npm run keys` run it as is
# (in a checkout they build first, which a read-only image without TypeScript cannot do).
# The log directory belongs to the runtime user, so a named volume mounted there starts
# out writable by it; everything else stays root-owned and read-only to the app.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npx --no-install patch-package \
 && npm pkg set scripts.start="node dist/src/server.js" scripts.keys="node dist/scripts/keys.js" scripts.security="node dist/scripts/security.js" \
 && rm -rf /tmp/.npm /root/.npm \
 && mkdir -p /var/log/missive \
 && chown 1000:1000 /var/log/missive
COPY --from=build /app/node_modules/argon2/build/Release/argon2.node ./node_modules/argon2/build/Release/argon2.node
COPY --from=build /app/dist ./dist
RUN node -e "import('argon2').then((a) => a.hash('image-build-check'))"

# The unprivileged "node" user of the base image, by number so that orchestrators can
# check runAsNonRoot.
USER 1000:1000
EXPOSE 3000
# No curl in the slim image: node asks /health itself, over HTTPS when TLS is configured
# (the certificate is for the public name, not 127.0.0.1, so it is not verified here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const tls=!!process.env.TLS_CERT_FILE;require(tls?'node:https':'node:http').get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/health',timeout:4000,rejectUnauthorized:false},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# SIGTERM (docker stop) starts the graceful shutdown: stop accepting, finish in-flight
# requests, close Redis. Give it more than close-with-grace's 10 s (compose: 15 s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/server.js"]
