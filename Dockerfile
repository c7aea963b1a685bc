# kgw gateway image: build with `docker build -t kgw:0.1.0 .`
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
RUN node scripts/build.mjs && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma/migrations ./prisma/migrations
COPY --from=build /app/libs/kube-sim/scenario ./libs/kube-sim/scenario
USER node
EXPOSE 8443
CMD ["node", "--enable-source-maps", "dist/apps/gateway/src/main.js"]
