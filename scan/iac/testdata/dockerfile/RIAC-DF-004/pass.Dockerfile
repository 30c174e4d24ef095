ARG BASE=python:3.13-slim
FROM ${BASE} AS deps
RUN pip install --no-cache-dir poetry

FROM deps AS test
RUN poetry check

FROM ubuntu:24.04@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
COPY --from=deps /usr/local /usr/local
USER 1000

FROM scratch AS export
COPY --from=deps /usr/local/bin/poetry /
