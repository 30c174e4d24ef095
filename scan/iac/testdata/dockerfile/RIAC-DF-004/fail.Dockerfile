ARG VERSION=1.2.3
FROM python:3.13-slim AS deps
RUN pip install --no-cache-dir poetry

FROM ubuntu
COPY --from=deps /usr/local /usr/local
USER 1000
