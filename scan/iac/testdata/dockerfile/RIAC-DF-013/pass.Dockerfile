FROM alpine:3.22
ADD rootfs.tar.gz /
COPY config.yaml /etc/app/
ADD https://github.com/example/repo.git /src
USER 1000
