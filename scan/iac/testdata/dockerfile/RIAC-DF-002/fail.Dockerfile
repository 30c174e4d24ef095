FROM node:22.16.0-bookworm
WORKDIR /app
USER node
COPY --chown=node:node . .
RUN npm ci --omit=dev
USER root
CMD ["node", "server.js"]
