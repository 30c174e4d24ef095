FROM debian:12.11-slim
RUN curl -fsSLo /tmp/install.sh https://get.example.com/install.sh \
 && echo "8d1c1b5f3a2e9a8f7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a  /tmp/install.sh" | sha256sum -c - \
 && sh /tmp/install.sh --yes
USER 1000
