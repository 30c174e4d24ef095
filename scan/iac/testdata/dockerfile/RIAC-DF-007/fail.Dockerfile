FROM debian:12.11-slim
# install the tool
RUN set -eux; \
    curl -fsSL https://get.example.com/install.sh | bash -s -- --yes
USER 1000
