FROM node:22.16.0-bookworm
WORKDIR /app
USER root
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
USER node
COPY --chown=node:node . .
RUN npm ci --omit=dev
CMD ["node", "server.js"]
