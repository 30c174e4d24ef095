FROM alpine:3.22
ADD rootfs.tar.gz /
ADD config.yaml /etc/app/
USER 1000
