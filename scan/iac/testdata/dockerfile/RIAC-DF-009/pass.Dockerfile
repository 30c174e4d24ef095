FROM node:22.16.0-bookworm
ARG NODE_ENV=production
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci
USER node
