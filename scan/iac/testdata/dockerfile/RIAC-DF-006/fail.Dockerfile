FROM debian:12.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git
USER 1000
