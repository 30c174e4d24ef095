FROM alpine:3.22
ADD https://example.com/tool-1.2.3.tar.gz /opt/
USER 1000
