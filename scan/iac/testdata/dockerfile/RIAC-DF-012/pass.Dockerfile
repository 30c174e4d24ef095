FROM alpine:3.22
USER 1000
HEALTHCHECK NONE
CMD ["sleep", "infinity"]
