FROM ubuntu:24.04
RUN apt-get update && apt-get install -y --no-install-recommends pseudo-sudoku && rm -rf /var/lib/apt/lists/*
USER 1000
