FROM alpine:3.22
RUN apk update && apk add curl
USER 1000
