# RealWorldClaw: one container runs the server, the web UI and the demo fleet.
# (Docker cannot run on the development machines; this file is kept simple and untested there.)
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ openssl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/server/package.json packages/server/
COPY packages/simulators/package.json packages/simulators/
COPY packages/web/package.json packages/web/
COPY packages/plugin-sdk/package.json packages/plugin-sdk/
COPY packages/plugins/package.json packages/plugins/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web
ENV RWC_DATA_DIR=/data RWC_PORT=8080 RWC_HOST=0.0.0.0 TZ=UTC
VOLUME ["/data"]
EXPOSE 8080 1884
CMD ["node", "--import", "tsx", "packages/server/src/cli.ts"]
