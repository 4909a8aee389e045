# userinfo-bff: built once with the dev dependencies, run from the bundle with the production dependencies only, as a
# non-root user.
#
# There is no container engine on the project's machines: test/e2e/container-image.test.ts runs this file's steps itself
# (each stage's COPY and RUN in a directory of its own, ENV, USER, then the CMD, the HEALTHCHECK and the STOPSIGNAL),
# so the commands below are exactly the ones the suite runs. Keep to the instructions that test knows (ARG, FROM,
# WORKDIR, ENV, COPY [--from], RUN [--mount], USER, EXPOSE, STOPSIGNAL, HEALTHCHECK, CMD), and keep RUN steps to paths
# inside WORKDIR.
#
#   docker build -t userinfo-bff .
#   docker run -p 4000:4000 --env-file production.env userinfo-bff

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY src ./src
# Installs every dependency and generates the Prisma client (postinstall).
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 DATA_DIR=.data
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# Read at start by the migrations runner.
COPY prisma/migrations ./prisma/migrations
# The bundle: the gateway, the operator CLI (node dist/cli.js) and the health check, Prisma's client inside.
COPY --from=build /app/dist ./dist
# Production dependencies only: no typescript, tsx, esbuild or prisma CLI (the postinstall hook skips generation).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
# DATA_DIR, for the embedded database and the development issuer's key when no DATABASE_URL / JWKS is configured.
RUN mkdir -p .data && chown 1000:1000 .data
# The image's `node` user, by number so that runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 4000
# The gateway stops within SHUTDOWN_TIMEOUT_MS (10 s) + 5 s: give `docker stop` / Kubernetes at least 20 s.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["node", "dist/healthcheck.js"]
CMD ["node", "--max-old-space-size=192", "--max-semi-space-size=16", "--enable-source-maps", "dist/main.js"]
