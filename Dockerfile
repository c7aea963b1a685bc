# kgw gateway image: `docker build -t kgw:0.1.0 .` (docker-compose.yml builds it for you).
# Stage 1 installs everything and builds (scripts/build.mjs: tsc into dist/, Vite into dist/web),
# then drops the dev dependencies; stage 2 gets only dist/, production node_modules and the
# files the gateway reads at run time. test/deploy/dockerfile.e2e-spec.ts checks this statically.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The CLI is a workspace (so npm links `kgw`); npm ci needs its package.json.
COPY apps/kgw/package.json ./apps/kgw/
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY apps ./apps
COPY libs ./libs
COPY bench ./bench
COPY scripts ./scripts
RUN node scripts/build.mjs && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production \
    KGW_HTTP_HOST=0.0.0.0 \
    KGW_HTTP_PORT=8443 \
    KGW_AUDIT_SPOOL_DIR=/var/lib/kgw/audit-spool
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Applied at boot (libs/db/src/migrations.ts looks for prisma/migrations beside dist/).
COPY --from=build /app/prisma/migrations ./prisma/migrations
# The demo cluster's scenario (KGW_DEMO=true in the image still works, for a quick look).
COPY --from=build /app/libs/kube-sim/scenario ./libs/kube-sim/scenario
# The spool must be writable by the non-root user (in a cluster a volume is mounted over it).
RUN mkdir -p /var/lib/kgw/audit-spool && chown -R node:node /var/lib/kgw
# The image's `node` user (uid 1000): deploy/base/deployment.yaml runs it as that uid.
USER node
EXPOSE 8443
CMD ["node", "--enable-source-maps", "dist/apps/gateway/src/main.js"]
